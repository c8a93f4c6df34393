# Chapter 14's Python twin: chapter 12's lost update with a shared-memory Value.
import os
import time
from multiprocessing import Manager, Process, Value

N_PROCS = 4
N_INCS = 250
N_COST = 100_000
N_MANAGER_COST = 2_000


def add_without_lock(counter):
    for _ in range(N_INCS):
        v = counter.value  # with a lock, takes and releases it
        os.sched_yield()
        counter.value = v + 1  # takes and releases it again


def add_with_lock(counter):
    for _ in range(N_INCS):
        with counter.get_lock():
            v = counter.value
            os.sched_yield()
            counter.value = v + 1


def run(target, args):
    procs = [Process(target=target, args=args) for _ in range(N_PROCS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()


def cost(ops, f):
    t = time.perf_counter()
    for _ in range(ops):
        f()
    ns = (time.perf_counter() - t) * 1e9 / ops
    return f'{ns:.0f} ns' if ns < 1000 else f'{ns / 1000:.1f} µs'


if __name__ == '__main__':
    n = N_PROCS * N_INCS
    print(f'{N_PROCS} processes add 1 to a shared-memory counter {N_INCS} times each')
    raw = Value('q', 0, lock=False)
    run(add_without_lock, (raw,))
    print(f'without lock: counter = {raw.value} (expected {n})')
    counter = Value('q', 0)
    run(add_without_lock, (counter,))
    print(f'lock per access: counter = {counter.value} (expected {n})')
    counter.value = 0
    run(add_with_lock, (counter,))
    print(f'with get_lock(): counter = {counter.value} (expected {n})')
    print('with fetch_add: (no such operation on a multiprocessing.Value)')

    print('one process alone, cost of one increment:')

    def locked():
        with counter.get_lock():
            counter.value += 1

    print(f'  with get_lock(): {cost(N_COST, locked)}')
    print('  with fetch_add: (none)')
    with Manager() as manager:
        mcounter = manager.Value('q', 0)
        lock = manager.Lock()

        def managed():
            with lock:
                mcounter.value += 1

        print(f'  manager Value with manager Lock: {cost(N_MANAGER_COST, managed)}')
