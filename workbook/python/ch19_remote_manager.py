# Chapter 19's Python twin: the classic "distributed processes" pair. A
# master serves a task queue and a result queue by name over TCP
# (BaseManager with register); two worker processes connect with the
# address and the authkey, as programs on other hosts would, square the
# tasks, and leave when no task comes for a second.
import os
import queue
import time
from multiprocessing import Process
from multiprocessing.managers import BaseManager

task_queue = queue.Queue()
result_queue = queue.Queue()


# Module-level functions, not lambdas: the manager's server process gets
# them by pickling under the spawn and forkserver start methods, and a
# lambda cannot be pickled (it works only under fork).
def get_task_queue():
    return task_queue


def get_result_queue():
    return result_queue


class MasterManager(BaseManager):
    pass


MasterManager.register('get_task_queue', callable=get_task_queue)
MasterManager.register('get_result_queue', callable=get_result_queue)


class WorkerManager(BaseManager):
    pass


# A worker knows only the names; the objects live in the master's server.
WorkerManager.register('get_task_queue')
WorkerManager.register('get_result_queue')


def worker(address, authkey):
    m = WorkerManager(address=address, authkey=authkey)
    m.connect()
    task, result = m.get_task_queue(), m.get_result_queue()
    while True:
        try:
            n = task.get(timeout=1)
        except queue.Empty:
            break
        time.sleep(0.01)  # the "work"
        result.put('%d * %d = %d' % (n, n, n * n))


if __name__ == '__main__':
    authkey = os.urandom(16)  # a fresh key: only this run's workers know it
    manager = MasterManager(address=('127.0.0.1', 0), authkey=authkey)
    manager.start()
    print('master: serving get_task_queue and get_result_queue on %s:%d'
          % manager.address, flush=True)
    workers = [Process(target=worker, args=(manager.address, authkey))
               for _ in range(2)]
    for w in workers:
        w.start()
    task, result = manager.get_task_queue(), manager.get_result_queue()
    for n in range(1, 11):
        task.put(n)
    print('master: put 10 tasks', flush=True)
    total = 0
    for _ in range(10):
        r = result.get(timeout=60)
        print('result:', r, flush=True)
        total += int(r.rsplit(' ', 1)[1])
    print('master: all 10 results in; the sum of the squares is %d' % total,
          flush=True)
    for w in workers:
        w.join()
    print('master: shutting down', flush=True)
    manager.shutdown()
