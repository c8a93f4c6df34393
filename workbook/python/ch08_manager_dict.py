# Chapter 8's Python twin: workers fill a shared dict.
from multiprocessing import Manager, Process


def square(d, i):
    d[i] = i * i
    print(f'worker {i} set d[{i}] = {i * i}')


if __name__ == '__main__':
    with Manager() as manager:
        d = manager.dict()
        workers = [Process(target=square, args=(d, i)) for i in range(8)]
        for p in workers:
            p.start()
        for p in workers:
            p.join()
        print('len(d) =', len(d))
        # The keys arrive in the order the workers reached the server.
        print('d =', dict(sorted(d.items())))
