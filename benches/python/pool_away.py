"""pool.away: OPS apply_async of a 50 ms nap on 2 workers, 2.5 s away from
the pool, then get all.

Usage: python3 pool_away.py OPS  -> prints the seconds the final wait took.
The pool is created and warmed up before the tasks are submitted.
"""
import multiprocessing as mp
import sys
import time


def nap(ms):
    time.sleep(ms / 1000)
    return ms


def main():
    ops = int(sys.argv[1])
    with mp.get_context("fork").Pool(2) as pool:
        pool.apply(nap, (0,))
        results = [pool.apply_async(nap, (50,)) for _ in range(ops)]
        time.sleep(2.5)
        t = time.perf_counter()
        for r in results:
            assert r.get() == 50
        print(time.perf_counter() - t)


if __name__ == "__main__":
    main()
