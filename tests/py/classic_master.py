# The classic CPython "distributed processes" master: serves get_task_queue and
# get_result_queue, puts int tasks, waits for the 'n * n = n²' strings.
# argv: authkey ntasks. Prints the port, then each result, then 'master done'.
import queue
import sys
from multiprocessing.managers import BaseManager

task_queue = queue.Queue()
result_queue = queue.Queue()


def get_task_queue():
    return task_queue


def get_result_queue():
    return result_queue


class QueueManager(BaseManager):
    pass


QueueManager.register('get_task_queue', callable=get_task_queue)
QueueManager.register('get_result_queue', callable=get_result_queue)
m = QueueManager(address=('127.0.0.1', 0), authkey=sys.argv[1].encode())
m.start()
print(m.address[1], flush=True)
task, result = m.get_task_queue(), m.get_result_queue()
n = int(sys.argv[2])
for i in range(n):
    task.put(i)
for i in range(n):
    print(result.get(timeout=60), flush=True)
m.shutdown()
print('master done', flush=True)
