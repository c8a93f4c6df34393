# Values beyond the plain types pass through a manager server unchanged (the
# server keeps them as opaque pickled objects). argv: port authkey.
import collections
import datetime
import decimal
import enum
import fractions
import sys
import uuid
from multiprocessing.managers import SyncManager


class Color(enum.Enum):
    RED = 1


P = collections.namedtuple('P', 'x y')

m = SyncManager(address=('127.0.0.1', int(sys.argv[1])), authkey=sys.argv[2].encode())
m.connect()
q = m.Queue()
values = [
    datetime.datetime(2024, 1, 2, 3, 4, 5), datetime.date(2020, 1, 1), decimal.Decimal('1.5'),
    fractions.Fraction(1, 3), collections.OrderedDict(a=1, b=[2]),
    collections.defaultdict(list, {'a': [1]}), collections.Counter('aab'), collections.deque([1, 2]),
    P(1, 2), uuid.UUID(int=5), range(3), complex(1, 2), bytearray(b'ab'), Color.RED,
    slice(1, 2), Ellipsis, type(None), int,
]
bad = 0
for v in values:
    q.put(v)
    r = q.get()
    same = type(r) is type(v) and r == v
    if isinstance(v, collections.defaultdict):
        same = same and r.default_factory is list
    print('ok' if same else 'DIFF', type(v).__name__, repr(r)[:60])
    bad += not same
sys.exit(1 if bad else 0)
