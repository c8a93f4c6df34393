"""manager.list_append.8clients: 8 client processes append to one Manager
list at once.

Usage: python3 manager_list_append_8clients.py OPS -> prints the seconds
the OPS appends took in all (OPS / 8 per client).
The manager is started, and each client has opened its connection (one
untimed append), before timing; the clock runs from the moment all 8 are
released until the last one has been joined.
"""
import multiprocessing as mp
import sys
import time

CLIENTS = 8


def client(li, n, ready, go):
    li.append(-1)  # opens this process's connection: not timed
    ready.wait()
    go.wait()
    for i in range(n):
        li.append(i)


def main():
    ops = int(sys.argv[1])
    per = ops // CLIENTS
    ctx = mp.get_context("fork")
    with ctx.Manager() as manager:
        li = manager.list()
        ready = ctx.Barrier(CLIENTS + 1)
        go = ctx.Event()
        procs = [
            ctx.Process(target=client, args=(li, per, ready, go))
            for _ in range(CLIENTS)
        ]
        for p in procs:
            p.start()
        ready.wait()
        t = time.perf_counter()
        go.set()
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - t
        assert all(p.exitcode == 0 for p in procs)
        assert len(li) == CLIENTS * (per + 1)
    print(elapsed)


if __name__ == "__main__":
    main()
