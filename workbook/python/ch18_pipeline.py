# Chapter 18's Python twin: a pipeline without a shell, and run(check=True).
import os
from subprocess import Popen, PIPE, run, check_output, CalledProcessError

p1 = Popen(["ls"], stdout=PIPE)
p2 = Popen(["wc", "-l"], stdin=p1.stdout, stdout=PIPE)
p1.stdout.close()  # now only wc holds the read end
out, _ = p2.communicate()
p1.wait()
print("ls | wc -l, two Popens joined by a pipe:", out.decode().strip())
print("ls exited with", p1.returncode, "and wc with", p2.returncode)

out = check_output("ls | wc -l", shell=True)
print("ls | wc -l, run by /bin/sh:", out.decode().strip())

try:
    run(["ls", "no-such-file"], check=True, capture_output=True,
        env={**os.environ, "LC_ALL": "C"})
except CalledProcessError as e:
    print(e)
    print("returncode", e.returncode)
    print("stderr:", e.stderr.decode().strip())
