# Chapter 11's Python twin: wait/notify between a producer and consumers.
import time
from multiprocessing import Manager, Process

N = 4


def consumer(cond, items, c):
    with cond:
        cond.wait_for(lambda: len(items) > 0)  # wait() until notified and non-empty
        item = items.pop(0)
        print(f'consumer {c} got item {item}', flush=True)


if __name__ == '__main__':
    with Manager() as manager:
        cond = manager.Condition()
        items = manager.list()
        consumers = [Process(target=consumer, args=(cond, items, c)) for c in range(N)]
        for p in consumers:
            p.start()
        time.sleep(0.1)  # not needed for correctness: lets every consumer wait
        for item in range(N):
            with cond:
                print(f'producer: item {item} ready, notify one', flush=True)
                items.append(item)
                cond.notify()
        for p in consumers:
            p.join()
        print('items left:', list(items))
