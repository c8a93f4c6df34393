"""manager.queue_put_get: a put then a get on a Manager queue, per pair.

Usage: python3 manager_queue_put_get.py OPS  -> prints the seconds OPS pairs took.
"""
import multiprocessing as mp
import sys
import time

from pinning import manager_on_server_cpu


def main():
    ops = int(sys.argv[1])
    with manager_on_server_cpu(mp.get_context("fork")) as manager:
        q = manager.Queue()
        q.put(0)
        q.get()
        t = time.perf_counter()
        for i in range(ops):
            q.put(i)
            assert q.get() == i
        elapsed = time.perf_counter() - t
    print(elapsed)


if __name__ == "__main__":
    main()
