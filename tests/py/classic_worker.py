# The classic CPython "distributed processes" worker, unmodified in spirit:
# takes int tasks, puts 'n * n = n²' strings, stops when get(timeout) raises queue.Empty.
# argv: port authkey
import queue
import sys
from multiprocessing.managers import BaseManager


class QueueManager(BaseManager):
    pass


QueueManager.register('get_task_queue')
QueueManager.register('get_result_queue')
m = QueueManager(address=('127.0.0.1', int(sys.argv[1])), authkey=sys.argv[2].encode())
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
print('worker done', done, flush=True)
