# Chapter 17's Python twin: pipes both ways, and a timeout that does not kill.
from subprocess import Popen, PIPE, TimeoutExpired

p = Popen(["tr", "a-z", "A-Z"], stdin=PIPE, stdout=PIPE)
out, err = p.communicate(b"hello from the parent\n")
print("tr answered:", out.decode(), end="")
print("tr exited with", p.returncode)

p = Popen("echo started; exec sleep 30", shell=True, stdout=PIPE)
try:
    p.communicate(timeout=1)
except TimeoutExpired as e:
    print(e)
print("after the timeout, poll() =", p.poll())
p.kill()
out, err = p.communicate()
print("after kill(), communicate() returned:", out.decode().strip())
print("returncode", p.returncode)
