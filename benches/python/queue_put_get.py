"""queue.put_get: a put on one multiprocessing.Queue, an echo process gets
it and puts it on a second queue, and the parent gets it back; per round
trip (one producer and one consumer each way).

Usage: python3 queue_put_get.py OPS  -> prints the seconds OPS round trips took.
"""
import multiprocessing as mp
import sys
import time


def echo(inq, outq):
    while True:
        x = inq.get()
        if x is None:
            break
        outq.put(x)


def main():
    ops = int(sys.argv[1])
    ctx = mp.get_context("fork")
    a, b = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=echo, args=(a, b))
    p.start()
    a.put(0)
    b.get()
    t = time.perf_counter()
    for i in range(ops):
        a.put(i)
        assert b.get() == i
    elapsed = time.perf_counter() - t
    a.put(None)
    p.join()
    print(elapsed)


if __name__ == "__main__":
    main()
