# Chapter 16's Python twin: the article's third example, verbatim.
import subprocess

child = subprocess.Popen(["ls"])
print("parent process")
