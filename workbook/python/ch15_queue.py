# Chapter 15's Python twin: multiprocessing.Queue producers and consumers,
# beside chapter 9's Manager queue, and the "joining processes that use
# queues" trap.
import time
from multiprocessing import Manager, Process, Queue

PRODUCERS = 2
CONSUMERS = 2
ITEMS = 2_000


def produce(q, p):
    for i in range(ITEMS):
        q.put(p * ITEMS + i)


def consume(q, results):
    total = 0
    while (x := q.get()) is not None:
        total += x
    results.put(total)


def round_trip(q, results):
    t = time.perf_counter()
    consumers = [Process(target=consume, args=(q, results)) for _ in range(CONSUMERS)]
    producers = [Process(target=produce, args=(q, p)) for p in range(PRODUCERS)]
    for c in consumers:
        c.start()
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    for _ in range(CONSUMERS):
        q.put(None)
    total = sum(results.get() for _ in range(CONSUMERS))
    for c in consumers:
        c.join()
    return total, (time.perf_counter() - t) * 1e6 / (PRODUCERS * ITEMS)


def put_big(q):
    for i in range(5):
        q.put(bytes([i]) * 100_000)


if __name__ == '__main__':
    expected = sum(range(PRODUCERS * ITEMS))
    print(f'{PRODUCERS} producers put {ITEMS} numbers each; {CONSUMERS} consumers add them up')
    total, per = round_trip(Queue(), Queue())
    print(f'Queue: sum = {total} (expected {expected}), {per:.1f} µs per item')
    with Manager() as manager:
        total, per = round_trip(manager.Queue(), manager.Queue())
        print(f'Manager queue: sum = {total} (expected {expected}), {per:.1f} µs per item')
    q = Queue()
    producer = Process(target=put_big, args=(q,))
    producer.start()
    producer.join(timeout=2)
    print(f'join before get: alive after join: {producer.is_alive()}')
    got = sum(len(q.get()) for _ in range(5))
    print(f'then got {got} bytes')
    producer.join()
