"""pool.apply_async: OPS apply_async of a tiny function on 2 workers, then get all.

Usage: python3 pool_apply_async.py OPS  -> prints the seconds OPS took.
The pool is created and warmed up before the clock starts.
"""
import multiprocessing as mp
import sys
import time


def tiny(x):
    return x + 1


def main():
    ops = int(sys.argv[1])
    with mp.get_context("fork").Pool(2) as pool:
        pool.apply(tiny, (0,))
        t = time.perf_counter()
        results = [pool.apply_async(tiny, (i,)) for i in range(ops)]
        for i, r in enumerate(results):
            assert r.get() == i + 1
        print(time.perf_counter() - t)


if __name__ == "__main__":
    main()
