# The classic CPython master of chapter 19, for a mixed fleet: serves
# get_task_queue and get_result_queue, puts the int tasks 1..10, prints the
# ten 'n * n = n²' results, and shuts down.
# usage: FORKLORE_AUTHKEY=... python3 ch19_master.py HOST PORT
import os
import queue
import sys
from multiprocessing.managers import BaseManager

task_queue = queue.Queue()
result_queue = queue.Queue()


# Module-level functions, not lambdas: the server process pickles them
# under the spawn and forkserver start methods.
def get_task_queue():
    return task_queue


def get_result_queue():
    return result_queue


class QueueManager(BaseManager):
    pass


QueueManager.register('get_task_queue', callable=get_task_queue)
QueueManager.register('get_result_queue', callable=get_result_queue)

if __name__ == '__main__':
    authkey = os.environb[b'FORKLORE_AUTHKEY']
    manager = QueueManager(address=(sys.argv[1], int(sys.argv[2])), authkey=authkey)
    manager.start()
    print('master: serving on %s:%d' % manager.address, flush=True)
    task, result = manager.get_task_queue(), manager.get_result_queue()
    for n in range(1, 11):
        task.put(n)
    for _ in range(10):
        print('result:', result.get(timeout=60), flush=True)
    manager.shutdown()
    print('master: done', flush=True)
