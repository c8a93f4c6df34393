"""sync.lock_acquire_release: an uncontended acquire() then release() of a
multiprocessing.Lock, per pair.

Usage: python3 sync_lock_acquire_release.py OPS  -> prints the seconds OPS pairs took.
"""
import multiprocessing as mp
import sys
import time


def main():
    ops = int(sys.argv[1])
    lock = mp.get_context("fork").Lock()
    t = time.perf_counter()
    for _ in range(ops):
        lock.acquire()
        lock.release()
    elapsed = time.perf_counter() - t
    print(elapsed)


if __name__ == "__main__":
    main()
