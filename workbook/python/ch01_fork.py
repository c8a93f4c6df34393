# Chapter 1's Python twin: the raw os.fork() demo.
import os
import sys

pid = os.fork()
if pid == 0:
    print('I am child process (%s) and my parent is %s.' % (os.getpid(), os.getppid()))
    # os._exit skips the interpreter's cleanup, flushing stdout included:
    # without this flush the child's line is lost when stdout is a pipe.
    sys.stdout.flush()
    os._exit(0)
else:
    print('I (%s) just created a child process (%s).' % (os.getpid(), pid))
    os.waitpid(pid, 0)
