"""subprocess.spawn_wait: start `true` and wait for it.

Usage: python3 subprocess_spawn_wait.py OPS  -> prints the seconds OPS took.
"""
import subprocess
import sys
import time


def main():
    ops = int(sys.argv[1])
    t = time.perf_counter()
    for _ in range(ops):
        subprocess.Popen(["true"]).wait()
    print(time.perf_counter() - t)


if __name__ == "__main__":
    main()
