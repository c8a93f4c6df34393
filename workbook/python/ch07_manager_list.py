# Chapter 7's Python twin: the article's second program, a list shared
# through a Manager. (It relies on the fork start method, Linux's default
# before Python 3.14, for the children to see the module-level proxy.)
from multiprocessing import Process, Manager

manager = Manager()
li = manager.list()


def foo(i):
    li.append(i)
    print('say hi', li)


process_list = [Process(target=foo, args=(i,)) for i in range(10)]
for p in process_list:
    p.start()
for p in process_list:
    p.join()
print('ending', li)
