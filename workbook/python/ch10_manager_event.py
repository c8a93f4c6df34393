# Chapter 10's Python twin: workers wait for a start signal.
import time
from multiprocessing import Manager, Process


def worker(start, i):
    start.wait()
    print(f'worker {i} started')


if __name__ == '__main__':
    with Manager() as manager:
        start = manager.Event()
        workers = [Process(target=worker, args=(start, i)) for i in range(4)]
        for p in workers:
            p.start()
        time.sleep(0.1)  # not needed for correctness: lets every worker reach wait()
        # flush: the line must leave before set(), not when the program ends.
        print('main: setting the event', flush=True)
        start.set()
        for p in workers:
            p.join()
        print('main: every worker has finished')
