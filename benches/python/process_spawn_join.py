"""process.spawn_join: start and join one child whose body is empty.

Usage: python3 process_spawn_join.py OPS  -> prints the seconds OPS took.
Uses the fork start method, as forklore does, so both pay for the same fork.
"""
import multiprocessing as mp
import sys
import time


def body():
    pass


def main():
    ops = int(sys.argv[1])
    ctx = mp.get_context("fork")
    t = time.perf_counter()
    for _ in range(ops):
        p = ctx.Process(target=body)
        p.start()
        p.join()
    print(time.perf_counter() - t)


if __name__ == "__main__":
    main()
