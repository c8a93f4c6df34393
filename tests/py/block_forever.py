# Connects and blocks in a call that never returns (get on an empty queue),
# so that the test can kill it mid-call. argv: port authkey
import sys
from multiprocessing.managers import SyncManager

m = SyncManager(address=('127.0.0.1', int(sys.argv[1])), authkey=sys.argv[2].encode())
m.connect()
q = m.Queue()
q.qsize()  # the proxy's connection is open
print('blocking', flush=True)
q.get()
