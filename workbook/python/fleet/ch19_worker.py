# The classic CPython worker of chapter 19, for a mixed fleet: takes int
# tasks, puts 'n * n = n²' strings, and stops when get(timeout=1) raises
# queue.Empty.
# usage: FORKLORE_AUTHKEY=... python3 ch19_worker.py HOST PORT
import os
import queue
import sys
from multiprocessing.managers import BaseManager


class QueueManager(BaseManager):
    pass


QueueManager.register('get_task_queue')
QueueManager.register('get_result_queue')

if __name__ == '__main__':
    authkey = os.environb[b'FORKLORE_AUTHKEY']
    m = QueueManager(address=(sys.argv[1], int(sys.argv[2])), authkey=authkey)
    m.connect()
    task, result = m.get_task_queue(), m.get_result_queue()
    done = 0
    while True:
        try:
            n = task.get(timeout=1)
        except queue.Empty:
            break
        result.put('%d * %d = %d' % (n, n, n * n))
        done += 1
    print('worker: done after', done, 'tasks', flush=True)
