"""manager.list_to_vec_1m: li[:] of a Manager list of 1,000,000 integers.

Usage: python3 manager_list_to_vec_1m.py OPS [ITEMS]  -> prints the seconds OPS copies took
(ITEMS, default 1,000,000: the size, for the growth rows), after one untimed
copy: the steady state, as the forklore row measures it.
"""
import multiprocessing as mp
import sys
import time

ITEMS = 1_000_000


def main():
    ops = int(sys.argv[1])
    items = int(sys.argv[2]) if len(sys.argv) > 2 else ITEMS
    with mp.get_context("fork").Manager() as manager:
        li = manager.list(range(items))
        assert len(li[:]) == items
        t = time.perf_counter()
        for _ in range(ops):
            v = li[:]
            assert len(v) == items
        took = time.perf_counter() - t
    print(took)


if __name__ == "__main__":
    main()
