"""manager.list_append: append to a Manager list from one client.

Usage: python3 manager_list_append.py OPS  -> prints the seconds OPS took.
The manager is started and the list's connection opened before timing.
"""
import multiprocessing as mp
import sys
import time

from pinning import manager_on_server_cpu


def main():
    ops = int(sys.argv[1])
    with manager_on_server_cpu(mp.get_context("fork")) as manager:
        li = manager.list()
        li.append(0)
        t = time.perf_counter()
        for i in range(ops):
            li.append(i)
        elapsed = time.perf_counter() - t
        assert len(li) == ops + 1
    print(elapsed)


if __name__ == "__main__":
    main()
