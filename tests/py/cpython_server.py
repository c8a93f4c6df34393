# A CPython SyncManager server for forklore's interop tests.
# argv: authkey. Prints the port, then serves until a client sends shutdown.
import queue
import sys
from multiprocessing.managers import SyncManager

task_queue = queue.Queue()
result_queue = queue.Queue()


class M(SyncManager):
    pass


M.register('get_task_queue', callable=lambda: task_queue)
M.register('get_result_queue', callable=lambda: result_queue)

m = M(address=('127.0.0.1', 0), authkey=sys.argv[1].encode())
s = m.get_server()
print(s.address[1], flush=True)
s.serve_forever()
