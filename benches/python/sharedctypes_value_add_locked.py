"""sharedctypes.value_add_locked: `with v.get_lock(): v.value += 1` on a
multiprocessing.Value, per increment.

Usage: python3 sharedctypes_value_add_locked.py OPS  -> prints the seconds OPS increments took.
"""
import multiprocessing as mp
import sys
import time


def main():
    ops = int(sys.argv[1])
    v = mp.get_context("fork").Value("q", 0)
    t = time.perf_counter()
    for _ in range(ops):
        with v.get_lock():
            v.value += 1
    elapsed = time.perf_counter() - t
    assert v.value == ops
    print(elapsed)


if __name__ == "__main__":
    main()
