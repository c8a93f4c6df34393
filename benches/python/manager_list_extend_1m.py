"""manager.list_extend_1m: li.extend(range(1_000_000)) into an empty Manager list.

Usage: python3 manager_list_extend_1m.py OPS [ITEMS]  -> prints the seconds OPS extends took
(ITEMS, default 1,000,000: the size, for the growth rows).
The list is emptied between extends (not timed), and filled and emptied once
before them, untimed: the steady state, as the forklore row measures it.
"""
import multiprocessing as mp
import sys
import time

ITEMS = 1_000_000


def main():
    ops = int(sys.argv[1])
    items = int(sys.argv[2]) if len(sys.argv) > 2 else ITEMS
    with mp.get_context("fork").Manager() as manager:
        li = manager.list()
        li.extend(range(items))
        li[:] = []
        took = 0.0
        for _ in range(ops):
            t = time.perf_counter()
            li.extend(range(items))
            took += time.perf_counter() - t
            assert len(li) == items
            li[:] = []
    print(took)


if __name__ == "__main__":
    main()
