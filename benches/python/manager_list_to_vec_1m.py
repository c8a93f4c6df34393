"""manager.list_to_vec_1m: li[:] of a Manager list of 1,000,000 integers.

Usage: python3 manager_list_to_vec_1m.py OPS  -> prints the seconds OPS copies took.
"""
import multiprocessing as mp
import sys
import time

ITEMS = 1_000_000


def main():
    ops = int(sys.argv[1])
    with mp.get_context("fork").Manager() as manager:
        li = manager.list(range(ITEMS))
        t = time.perf_counter()
        for _ in range(ops):
            v = li[:]
            assert len(v) == ITEMS
        took = time.perf_counter() - t
    print(took)


if __name__ == "__main__":
    main()
