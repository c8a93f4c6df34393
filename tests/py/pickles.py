# Pickle interop for forklore's codec tests.
# "dump": prints one line of hex per value, pickled as a manager connection does.
# "load": reads hex lines from stdin, prints repr() of each unpickled value.
import pickle
import queue
import sys
from multiprocessing.managers import Token, RemoteError
from multiprocessing.reduction import ForkingPickler

VALUES = [
    None, True, False, 0, 255, 256, 65536, -1, 2**31, -2**31 - 1, 2**63 - 1, -2**63,
    2**64, -2**100, 1.5, -0.0, '', 'héllo', 'x' * 300, b'', b'\x00\xff', b'y' * 70000,
    (), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), [], [1, [2, [3]]], {}, {'a': 1, 2: [None]},
    set(), {1}, frozenset([2]),
    ('#RETURN', Token('Queue', ('127.0.0.1', 5000), '7f00')),
    ('#ERROR', queue.Empty()), ('#ERROR', queue.Full()), ('#ERROR', KeyError('k')),
    ('#ERROR', IndexError('list index out of range')),
    ('7f', 'append', ([1, 2**70, {1, 2}],), {}),
]

if sys.argv[1] == 'dump':
    for v in VALUES:
        print(bytes(ForkingPickler.dumps(v)).hex())
    # a list shared twice through the memo
    shared = [1]
    print(bytes(ForkingPickler.dumps([shared, shared])).hex())
    # protocol 2 and 5 too
    print(pickle.dumps({'p': b'ab', 'q': (1.25,)}, protocol=2).hex())
    print(pickle.dumps({'p': b'ab', 'q': (1.25,)}, protocol=5).hex())
else:
    for line in sys.stdin:
        v = pickle.loads(bytes.fromhex(line.strip()))
        if isinstance(v, BaseException):
            print(type(v).__module__, type(v).__qualname__, repr(v.args))
        elif isinstance(v, Token):
            print('Token', v.typeid, v.address, v.id)
        else:
            print(repr(v))
