# Chapter 13's Python twin: workers fill their own slots of a shared Array.
from multiprocessing import Manager, Process

N_WORKERS = 4
SLOTS = 3  # slots per worker


def fill(arr, w):
    lo, hi = w * SLOTS, (w + 1) * SLOTS
    for i in range(lo, hi):
        arr[i] = i * i
    print(f'worker {w} filled arr[{lo}:{hi}]')


if __name__ == '__main__':
    with Manager() as manager:
        arr = manager.Array('i', [0] * (N_WORKERS * SLOTS))
        workers = [Process(target=fill, args=(arr, w)) for w in range(N_WORKERS)]
        for p in workers:
            p.start()
        for p in workers:
            p.join()
        print('arr =', list(arr))
