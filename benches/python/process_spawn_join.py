"""process.spawn_join: start and join one child whose body is empty.

Usage: python3 process_spawn_join.py OPS [METHOD]  -> prints the seconds OPS took.
METHOD is the start method, "fork" by default (as forklore's closure
Process uses, so both pay for the same fork); the rows
process.spawn_join.forkserver and .spawn pass "forkserver" and "spawn".
The forkserver is started (by one child) before the clock starts.
"""
import multiprocessing as mp
import sys
import time


def body():
    pass


def main():
    ops = int(sys.argv[1])
    method = sys.argv[2] if len(sys.argv) > 2 else "fork"
    ctx = mp.get_context(method)
    if method == "forkserver":
        p = ctx.Process(target=body)
        p.start()
        p.join()
    t = time.perf_counter()
    for _ in range(ops):
        p = ctx.Process(target=body)
        p.start()
        p.join()
    print(time.perf_counter() - t)


if __name__ == "__main__":
    main()
