# Chapter 6's Python twin: the article's first communication example.
# Each child appends to its own copy of the module-level list.
from multiprocessing import Process

li = []


def foo(i):
    li.append(i)
    print('say hi', li)


if __name__ == '__main__':
    process_list = [Process(target=foo, args=(i,)) for i in range(10)]
    for p in process_list:
        p.start()
    for p in process_list:
        p.join()
    print('ending', li)
