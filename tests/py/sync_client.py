# The checks a CPython SyncManager client runs against a manager server:
# the same script against CPython's own server and against forklore-manager.
# argv: port authkey. Prints one line per check; exits non-zero on the first failure.
import queue
import sys
import threading
from multiprocessing.managers import SyncManager, RemoteError
from multiprocessing import AuthenticationError


class M(SyncManager):
    pass


M.register('get_task_queue')
M.register('get_result_queue')

port, key = int(sys.argv[1]), sys.argv[2].encode()
m = M(address=('127.0.0.1', port), authkey=key)
m.connect()


def check(name, cond):
    if not cond:
        print('FAIL', name, flush=True)
        sys.exit(1)
    print('ok', name, flush=True)


def raises(exc, f, *a, **k):
    try:
        f(*a, **k)
    except exc:
        return True
    return False


# named queues, as the classic distributed-processes workers use them
tq, rq = m.get_task_queue(), m.get_result_queue()
for n in range(3):
    tq.put(n)
got = []
while True:
    try:
        got.append(tq.get(timeout=0.2))
    except queue.Empty:
        break
check('named queue fifo, get(timeout) raises queue.Empty', got == [0, 1, 2])
rq.put('%d * %d = %d' % (2, 2, 4))
check('a second proxy of a name is the same queue', m.get_result_queue().get() == '2 * 2 = 4')

q = m.Queue(2)
q.put_nowait(1)
q.put(2)
check('Queue full -> queue.Full', raises(queue.Full, q.put_nowait, 3) and raises(queue.Full, q.put, 3, True, 0.01))
check('Queue qsize/full/empty', q.qsize() == 2 and q.full() and not q.empty())
check('Queue get', q.get() == 1 and q.get_nowait() == 2)
check('Queue empty -> queue.Empty', raises(queue.Empty, q.get_nowait) and raises(queue.Empty, q.get, timeout=0.01))
q.task_done()
q.task_done()
q.join()
check('Queue task_done too often -> ValueError', raises(ValueError, q.task_done))
jq = m.JoinableQueue()
jq.put({'k': (1, 2.5, None, b'x', {1, 2}, frozenset([3]), 2 ** 80, -2 ** 70)})
check('plain types round-trip', jq.get() == {'k': (1, 2.5, None, b'x', {1, 2}, frozenset([3]), 2 ** 80, -2 ** 70)})

ev = m.Event()
check('Event wait times out', ev.wait(0.01) is False and not ev.is_set())
threading.Timer(0.05, ev.set).start()
check('Event set wakes wait', ev.wait(10) is True and ev.is_set())
ev.clear()
check('Event clear', not ev.is_set())

lk = m.Lock()
check('Lock acquire', lk.acquire() is True and lk.acquire(False) is False and lk.acquire(True, 0.01) is False)
lk.release()
check('Lock release unlocked -> RuntimeError', raises(RuntimeError, lk.release))
with lk:
    pass
rl = m.RLock()
check('RLock is reentrant', rl.acquire() and rl.acquire())
rl.release()
rl.release()
check('RLock over-release -> RuntimeError', raises(RuntimeError, rl.release))
sem = m.Semaphore(2)
check('Semaphore counts', sem.acquire() and sem.acquire() and not sem.acquire(False))
sem.release(); sem.release(); sem.release()
bs = m.BoundedSemaphore(1)
check('BoundedSemaphore over-release -> ValueError', bs.acquire() and (bs.release() is None) and raises(ValueError, bs.release))

cond = m.Condition()
check('Condition wait without lock -> RuntimeError', raises(RuntimeError, cond.wait, 0.01))
def notifier():
    with cond:
        cond.notify_all()
with cond:
    threading.Timer(0.05, notifier).start()
    check('Condition notify wakes wait', cond.wait(10) is True)
with cond:
    check('Condition wait times out', cond.wait(0.01) is False)

bar = m.Barrier(2)
res = []
t = threading.Thread(target=lambda: res.append(bar.wait(10)))
t.start()
res.append(bar.wait(10))
t.join()
check('Barrier releases both parties', sorted(res) == [0, 1] and bar.parties == 2 and bar.n_waiting == 0)
check('Barrier timeout -> BrokenBarrierError', raises(threading.BrokenBarrierError, bar.wait, 0.01) and bar.broken)
bar.reset()
check('Barrier reset', not bar.broken)

l = m.list([3, 1, 2])
l.append(4)
l.extend([5])
l += [6]
check('list append/extend/+=', l[:] == [3, 1, 2, 4, 5, 6] and len(l) == 6)
l.sort()
check('list sort/getitem/slice', l[0] == 1 and l[-1] == 6 and l[1:3] == [2, 3] and l[::-1][0] == 6)
l.reverse(); l.insert(0, 0); l.remove(0)
check('list index/count/contains', l.index(6) == 0 and l.count(3) == 1 and 3 in l and 99 not in l)
check('list pop', l.pop() == 1 and l.pop(0) == 6)
l[0] = 'x'
del l[1]
check('list setitem/delitem', l[:] == ['x', 3, 2] and str(l) == "['x', 3, 2]")
check('list IndexError', raises(IndexError, l.__getitem__, 10) and raises(IndexError, m.list().pop))
check('list remove absent -> ValueError', raises(ValueError, l.remove, 'absent'))
check('list 1 == 1.0 == True', m.list([1]).count(1.0) == 1 and m.list([True]).index(1) == 0)
check('list + and *', l + [9] == ['x', 3, 2, 9] and l * 2 == ['x', 3, 2] * 2)

d = m.dict({'a': 1}, b=2)
d['c'] = [3]
d[(1, 2)] = 'tuple key'
check('dict set/get', d['a'] == 1 and d['b'] == 2 and d['c'] == [3] and d[(1, 2)] == 'tuple key' and len(d) == 4)
check('dict KeyError', raises(KeyError, d.__getitem__, 'zz'))
check('dict get/contains', d.get('zz') is None and d.get('zz', 5) == 5 and 'a' in d and 'zz' not in d)
check('dict keys/values/items', list(d.keys()) == ['a', 'b', 'c', (1, 2)] and list(d.values())[0] == 1 and list(d.items())[1] == ('b', 2))
check('dict iteration (Iterator proxy)', list(iter(d)) == ['a', 'b', 'c', (1, 2)])
check('dict pop/setdefault/update', d.pop('a') == 1 and d.setdefault('n', 7) == 7 and d.update({'u': 1}) is None and d['u'] == 1)
del d['u']
check('dict copy', d.copy() == {'b': 2, 'c': [3], (1, 2): 'tuple key', 'n': 7})
check('dict unhashable key -> TypeError', raises(TypeError, d.__setitem__, [1], 2))
d.clear()
check('dict clear/popitem on empty -> KeyError', len(d) == 0 and raises(KeyError, d.popitem))

v = m.Value('i', 5)
v.value += 1
check('Value get/set', v.value == 6 and v.get() == 6)
arr = m.Array('i', [1, 2, 3])
arr[0] = 9
check('Array len/getitem/setitem', len(arr) == 3 and arr[0] == 9 and arr[-1] == 3)
check('Array IndexError', raises(IndexError, arr.__getitem__, 3))
ns = m.Namespace(x=1)
ns.y = 'two'
check('Namespace get/set', ns.x == 1 and ns.y == 'two')
del ns.x
check('Namespace missing -> AttributeError', raises(AttributeError, getattr, ns, 'x'))

# Nested proxies: a proxy stored in a managed container keeps its referent
# alive after the client drops its own proxy. (A proxy rebuilt from a pickle
# authenticates with the process's authkey, so set it to the manager's.)
import multiprocessing
multiprocessing.current_process().authkey = key
outer = m.list()
inner = m.dict()
outer.append(inner)
del inner
import gc
gc.collect()
outer[0]['x'] = 1
check('nested proxy outlives its creator', outer[0]['x'] == 1 and outer[0].copy() == {'x': 1})

check('number_of_objects is an int', isinstance(m._number_of_objects(), int))
check('debug_info is a str', isinstance(m._debug_info(), str))

bad = M(address=('127.0.0.1', port), authkey=b'wrong' + key)
check('wrong key -> AuthenticationError', raises(AuthenticationError, bad.connect))
print('all ok', flush=True)
