"""interop.list_append: a CPython client appending to a managed list over TCP.

Usage:
  python3 interop_list_append.py OPS                      CPython's own server (forked), then time
  python3 interop_list_append.py OPS --connect PORT KEY   a running server: m.list(), then time
  python3 interop_list_append.py OPS --raw PORT KEY       a server that answers every frame with
                                                          ('#RETURN', None): a ListProxy built
                                                          without create/incref, then time
  python3 interop_list_append.py OPS --pair PORT FLOOR KEY
                                                          both of the above in one process: OPS
                                                          appends on each, in alternating batches
                                                          of 500; prints both times ("T1 T2")
  python3 interop_list_append.py 0 --serve KEY            serve a SyncManager on a free port
                                                          (prints the port) until shut down
Prints the seconds OPS appends took (the proxy's connection opened before timing).

Where this process may run on two CPUs or more, every client runs on the
first of them and every server on the second (forklore's bench pins its
servers' threads the same way): on a 2-vCPU machine the cost of a round trip
otherwise depends on where the scheduler happens to put each side.
"""
import multiprocessing as mp
import os
import sys
import time
from multiprocessing.managers import ListProxy, SyncManager, Token


ALLOWED = sorted(os.sched_getaffinity(0))


def pin(which):
    """Run this process on CPU ALLOWED[which] (0: clients, 1: servers)."""
    if len(ALLOWED) >= 2:
        os.sched_setaffinity(0, {ALLOWED[which]})


def timed(li, ops):
    li.append(0)
    t = time.perf_counter()
    for i in range(ops):
        li.append(i)
    return time.perf_counter() - t


def raw_proxy(port, key):
    token = Token('list', ('127.0.0.1', port), 'x')
    return ListProxy(token, 'pickle', authkey=key, incref=False)


def paired(a, b, ops, batch=500):
    """Alternating batches on a and b (a b b a a b ...): one process, one
    CPU, one warm interpreter for both, so that neither is flattered by
    where the scheduler put this process, nor by going first."""
    a.append(0)
    b.append(0)
    ta = tb = 0.0
    done = 0
    order = ((a, 0), (b, 1))
    while done < ops:
        n = min(batch, ops - done)
        for li, which in order:
            t = time.perf_counter()
            for i in range(n):
                li.append(i)
            d = time.perf_counter() - t
            if which == 0:
                ta += d
            else:
                tb += d
        done += n
        order = order[::-1]
    return ta, tb


def main():
    ops = int(sys.argv[1])
    mode = sys.argv[2] if len(sys.argv) > 2 else None
    if mode is None:
        m = SyncManager(address=('127.0.0.1', 0), authkey=b'bench', ctx=mp.get_context('fork'))
        pin(1)  # the forked server inherits it
        m.start()
        pin(0)
        li = m.list()
        elapsed = timed(li, ops)
        assert len(li) == ops + 1
        m.shutdown()
    elif mode == '--serve':
        m = SyncManager(address=('127.0.0.1', 0), authkey=sys.argv[3].encode())
        s = m.get_server()
        pin(1)
        print(s.address[1], flush=True)
        s.serve_forever()
        return
    elif mode == '--pair':
        pin(0)
        port, floor, key = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5].encode()
        m = SyncManager(address=('127.0.0.1', port), authkey=key)
        m.connect()
        li = m.list()
        ta, tb = paired(li, raw_proxy(floor, key), ops)
        assert len(li) == ops + 1
        print(ta, tb)
        return
    else:
        pin(0)
        port, key = int(sys.argv[3]), sys.argv[4].encode()
        if mode == '--connect':
            m = SyncManager(address=('127.0.0.1', port), authkey=key)
            m.connect()
            li = m.list()
            elapsed = timed(li, ops)
            assert len(li) == ops + 1
        else:
            elapsed = timed(raw_proxy(port, key), ops)
    print(elapsed)


if __name__ == '__main__':
    main()
