"""pool.map: map of x*x over OPS ints on 2 workers, default chunksize.

Usage: python3 pool_map.py OPS  -> prints the seconds the map took.
The pool is created and warmed up before the clock starts.
"""
import multiprocessing as mp
import sys
import time


def square(x):
    return x * x


def main():
    ops = int(sys.argv[1])
    with mp.get_context("fork").Pool(2) as pool:
        pool.apply(square, (0,))
        t = time.perf_counter()
        out = pool.map(square, range(ops))
        took = time.perf_counter() - t
        assert out[-1] == (ops - 1) ** 2
        print(took)


if __name__ == "__main__":
    main()
