"""manager.object_bytes: the growth of the manager server's RSS per dict of
10 entries (str keys 'k0'..'k9', int values), over 2000 dicts.

Usage: python3 manager_object_bytes.py OPS -> prints bytes per dict times
OPS / 1e6, so that the bench's "µs per op" column reads bytes per dict.
"""
import multiprocessing as mp
import sys

DICTS = 2000


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def main():
    ops = int(sys.argv[1])
    with mp.get_context("fork").Manager() as manager:
        pid = manager._process.pid
        warm = manager.dict()
        warm["k"] = 0
        before = rss(pid)
        dicts = []
        for n in range(DICTS):
            d = manager.dict()
            d.update({f"k{i}": n * 10 + i for i in range(10)})
            dicts.append(d)
        per = max(rss(pid) - before, 0) / DICTS
    print(per * ops / 1e6)


if __name__ == "__main__":
    main()
