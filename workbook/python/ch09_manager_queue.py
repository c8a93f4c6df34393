# Chapter 9's Python twin: a producer, consumers, and a sentinel to stop.
import time
from multiprocessing import Manager, Process

N_ITEMS = 10
N_CONSUMERS = 3


def producer(q):
    for item in range(N_ITEMS):
        q.put(item)
    for _ in range(N_CONSUMERS):
        q.put(None)  # one sentinel per consumer
    print(f'producer put {N_ITEMS} items and {N_CONSUMERS} sentinels')


def consumer(q, done, c):
    while True:
        item = q.get()
        if item is None:
            print(f'consumer {c} got the sentinel, stopping')
            break
        print(f'consumer {c} got {item}')
        done.append(item)
        time.sleep(0.01)  # work on the item, so the consumers share the queue


if __name__ == '__main__':
    with Manager() as manager:
        q = manager.Queue()
        done = manager.list()
        procs = [Process(target=producer, args=(q,))]
        procs += [Process(target=consumer, args=(q, done, c)) for c in range(N_CONSUMERS)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        print('consumed', sorted(done))
