# Chapter 12's Python twin: the lost-update race on a manager Value, and its fix.
from multiprocessing import Manager, Process

N_PROCS = 4
N_INCS = 250


def add_without_lock(counter):
    for _ in range(N_INCS):
        counter.value += 1  # a get, then a set: two requests


def add_with_lock(counter, lock):
    for _ in range(N_INCS):
        with lock:
            counter.value += 1


def run(target, args):
    procs = [Process(target=target, args=args) for _ in range(N_PROCS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()


if __name__ == '__main__':
    with Manager() as manager:
        n = N_PROCS * N_INCS
        print(f'{N_PROCS} processes add 1 to a shared counter {N_INCS} times each')
        counter = manager.Value('i', 0)
        run(add_without_lock, (counter,))
        print(f'without lock: counter = {counter.value} (expected {n})')
        counter.value = 0
        lock = manager.Lock()
        run(add_with_lock, (counter, lock))
        print(f'with lock: counter = {counter.value} (expected {n})')
