"""executor.submit: OPS times submit a tiny function and wait for its result,
on 2 workers.

Usage: python3 executor_submit.py OPS  -> prints the seconds OPS took.
The executor is created and warmed up before the clock starts.
"""
import multiprocessing as mp
import sys
import time
from concurrent.futures import ProcessPoolExecutor


def tiny(x):
    return x + 1


def main():
    ops = int(sys.argv[1])
    with ProcessPoolExecutor(2, mp_context=mp.get_context("fork")) as ex:
        ex.submit(tiny, 0).result()
        t = time.perf_counter()
        for i in range(ops):
            assert ex.submit(tiny, i).result() == i + 1
        print(time.perf_counter() - t)


if __name__ == "__main__":
    main()
