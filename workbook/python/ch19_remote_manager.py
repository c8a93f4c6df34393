# Chapter 19's Python twin: a master serves a task queue and a result queue
# by name over TCP (BaseManager with register), and two worker processes
# connect with the address and the authkey, as programs on other hosts would.
# The workers say hello and goodbye on the result queue, a 'stop' task sends
# them home, and the master puts back tasks that a lost worker took with it.
import os
import queue
import time
from multiprocessing import Process
from multiprocessing.managers import BaseManager

PATIENCE = 5  # seconds: forklore's tcp.DEAD_PEER_BOUND

task_queue = queue.Queue()
result_queue = queue.Queue()


class MasterManager(BaseManager):
    pass


MasterManager.register('get_task_queue', callable=lambda: task_queue)
MasterManager.register('get_result_queue', callable=lambda: result_queue)


class WorkerManager(BaseManager):
    pass


# A worker knows only the names; the objects live in the master's server.
WorkerManager.register('get_task_queue')
WorkerManager.register('get_result_queue')


def worker(address, authkey, name, work=0.01):
    m = WorkerManager(address=address, authkey=authkey)
    m.connect()
    tasks, results = m.get_task_queue(), m.get_result_queue()
    results.put(('hello', name))
    done = 0
    while True:
        task = tasks.get()
        if task == 'stop':
            tasks.put('stop')  # for the next worker
            results.put(('bye', name, done))
            return
        time.sleep(work)  # the "work"
        results.put(('result', name, task, task * task))
        done += 1


class Master:
    def __init__(self):
        self.joined, self.left, self.results = [], set(), {}

    def on(self, report):
        if report[0] == 'hello':
            print(f'master: {report[1]} joined')
            self.joined.append(report[1])
        elif report[0] == 'result':
            _, who, n, square = report
            if n in self.results:
                print(f'master: result for {n} again, from {who}; ignored')
            else:
                self.results[n] = square
                print(f'result: {n} * {n} = {square} ({who})')
        else:
            _, who, done = report
            print(f'master: {who} left after {done} tasks')
            self.left.add(who)

    def still_here(self):
        return [w for w in self.joined if w not in self.left]


def master(authkey, ntasks, wait_for, on_listening):
    # Port 0: the kernel picks a free port; manager.address tells which.
    manager = MasterManager(address=('127.0.0.1', 0), authkey=authkey)
    manager.start()
    tasks, results = manager.get_task_queue(), manager.get_result_queue()
    host, port = manager.address
    print(f'master: serving task_queue and result_queue on {host}:{port}')
    on_listening(manager.address)
    m = Master()
    print(f'master: waiting for {wait_for} worker{"" if wait_for == 1 else "s"}')
    while len(m.joined) < wait_for:
        m.on(results.get())
    for n in range(1, ntasks + 1):
        tasks.put(n)
    print(f'master: put {ntasks} tasks')
    while len(m.results) < ntasks:
        try:
            m.on(results.get(timeout=PATIENCE))
        except queue.Empty:
            if tasks.empty():
                missing = [n for n in range(1, ntasks + 1) if n not in m.results]
                print(f'master: no result for {missing} in {PATIENCE} s and no task '
                      'waiting: a worker was lost; putting them back')
                for n in missing:
                    tasks.put(n)
    print(f'master: all {ntasks} results in; '
          f'the sum of the squares is {sum(m.results.values())}')
    tasks.put('stop')
    deadline = time.monotonic() + PATIENCE
    while m.still_here():
        try:
            m.on(results.get(timeout=max(0, deadline - time.monotonic())))
        except queue.Empty:
            break
    for w in m.still_here():
        print(f'master: {w} did not say goodbye; it is lost')
    print('master: shutting down')
    manager.shutdown()


if __name__ == '__main__':
    authkey = os.urandom(16)
    workers = []

    def start_workers(address):
        for i in (1, 2):
            p = Process(target=worker, args=(address, authkey, f'worker-{i}'))
            p.start()
            workers.append(p)

    master(authkey, 10, 2, start_workers)
    for p in workers:
        p.join()
