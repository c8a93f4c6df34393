# Chapter 3's Python twin: the three start methods, in a program with a
# second thread (a logger that holds the log's lock while it writes).
import multiprocessing as mp
import threading
import time

LOG = threading.Lock()  # the log's lock, as in any logging library
CHILDREN = 5


def hello(method, i):
    with LOG:
        print(f"{method} child {i}: hello", flush=True)


def logger():
    # Holds the log's lock while it writes (a slow disk: 1 ms).
    while True:
        with LOG:
            time.sleep(0.001)


def per_child(t):
    return (time.perf_counter() - t) * 1e3 / CHILDREN


if __name__ == '__main__':
    threading.Thread(target=logger, daemon=True).start()

    # fork: CPython 3.11 neither refuses nor warns (3.12 warns).
    print("fork: not refused: CPython 3.11 forks a threaded process", flush=True)
    ctx = mp.get_context("fork")
    t = time.perf_counter()
    hung = 0
    for i in range(CHILDREN):
        p = ctx.Process(target=hello, args=("fork", i))
        p.start()
        p.join(0.2)
        if p.exitcode is None:
            hung += 1
            p.kill()
            p.join()
    print(f"fork: {hung} of {CHILDREN} children hung on the log's lock", flush=True)
    print(f"fork: {per_child(t):.1f} ms per child", flush=True)

    # forkserver and spawn: safe with any number of threads.
    for method in ("forkserver", "spawn"):
        ctx = mp.get_context(method)
        t = time.perf_counter()
        finished = 0
        for i in range(CHILDREN):
            p = ctx.Process(target=hello, args=(method, i))
            p.start()
            p.join()
            if p.exitcode == 0:
                finished += 1
        print(f"{method}: {finished} of {CHILDREN} children finished", flush=True)
        print(f"{method}: {per_child(t):.1f} ms per child", flush=True)
