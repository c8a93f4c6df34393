"""manager.bytes_get_16mib: d['k'] of a 16 MiB bytes value in a Manager dict.

Usage: python3 manager_bytes_get_16mib.py OPS  -> prints the seconds OPS gets took
(after one untimed get: the steady state, as the forklore row measures it).
"""
import multiprocessing as mp
import sys
import time

BYTES = 16 << 20


def main():
    ops = int(sys.argv[1])
    with mp.get_context("fork").Manager() as manager:
        d = manager.dict()
        d["k"] = b"\x07" * BYTES
        assert len(d["k"]) == BYTES
        t = time.perf_counter()
        for _ in range(ops):
            v = d["k"]
            assert len(v) == BYTES
        took = time.perf_counter() - t
    print(took)


if __name__ == "__main__":
    main()
