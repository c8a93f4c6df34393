"""manager.value_get_set: read a Manager Value and write it back plus one.

Usage: python3 manager_value_get_set.py OPS  -> prints the seconds OPS pairs took.
"""
import multiprocessing as mp
import sys
import time

from pinning import manager_on_server_cpu


def main():
    ops = int(sys.argv[1])
    with manager_on_server_cpu(mp.get_context("fork")) as manager:
        v = manager.Value("q", 0)
        v.value
        t = time.perf_counter()
        for _ in range(ops):
            v.value = v.value + 1
        elapsed = time.perf_counter() - t
        assert v.value == ops
    print(elapsed)


if __name__ == "__main__":
    main()
