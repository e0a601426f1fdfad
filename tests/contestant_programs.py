"""Correct programs in the input and output styles contestants and models write (fast reads through
sys.stdin.buffer, os.read or /dev/stdin, input() until EOFError, print with sep/end/flush, os.write, a PyRival
fast-IO template, atexit output, exit() after printing, a closed or replaced sys.stdout;
tests/test_eval_contestant_programs.py runs them through the judge): name -> (code, tests). The ones that lean on
the runtime and the standard library: contestant_programs_runtime.py."""

SUM = {"inputs": ["5\n3 1 4 1 5\n", "1\n-7\n", "3\n1000000000000 2 3\n"],
       "outputs": ["14 5\n", "-7 -7\n", "1000000000005 1000000000000\n"]}
P = {}  # name: (code, tests)
P["fastio_buffer"] = ('''\
import sys
data = sys.stdin.buffer.read().split()
n = int(data[0])
a = list(map(int, data[1:1+n]))
print(sum(a), max(a))
''', SUM)
P["input_eof"] = ('''\
nums = []
while True:
    try:
        line = input()
    except EOFError:
        break
    nums.extend(map(int, line.split()))
a = nums[1:]
print(sum(a), max(a))
''', SUM)
P["readline_alias"] = ('''\
import sys
input = sys.stdin.readline
n = int(input())
a = list(map(int, input().split()))
print(sum(a), max(a))
''', SUM)
P["stdin_read"] = ('''\
import sys
n, *a = map(int, sys.stdin.read().split())
print(sum(a), max(a))
''', SUM)
P["open0"] = ('''\
n, *a = map(int, open(0).read().split())
print(sum(a), max(a))
''', SUM)
P["os_read"] = ('''\
import os
n, *a = map(int, os.read(0, 1 << 25).split())
print(sum(a), max(a))
''', SUM)
P["print_sep_end_flush"] = ('''\
n = int(input())
a = list(map(int, input().split()))
print(sum(a), max(a), sep=' ', end='\\n', flush=True)
''', SUM)
P["os_write"] = ('''\
import os, sys
n = int(input())
a = list(map(int, input().split()))
os.write(1, f'{sum(a)} {max(a)}\\n'.encode())
''', SUM)
P["exit_after"] = ('''\
n = int(input())
a = list(map(int, input().split()))
print(sum(a), max(a))
exit()
print('unreachable')
''', SUM)
P["sys_exit0"] = ('''\
import sys
n = int(input())
a = list(map(int, input().split()))
print(sum(a), max(a))
sys.exit(0)
''', SUM)
P["main_guard"] = ('''\
import sys
def main():
    n = int(sys.stdin.readline())
    a = list(map(int, sys.stdin.readline().split()))
    print(sum(a), max(a))

if __name__ == '__main__':
    main()
''', SUM)
P["stdout_buffer_write"] = ('''\
import sys
data = sys.stdin.buffer.read().split()
a = list(map(int, data[1:]))
sys.stdout.buffer.write(f'{sum(a)} {max(a)}\\n'.encode())
''', SUM)
P["stringio_out"] = ('''\
import io, sys
out = io.StringIO()
n = int(input())
a = list(map(int, input().split()))
out.write(str(sum(a)) + ' ' + str(max(a)) + '\\n')
sys.stdout.write(out.getvalue())
''', SUM)
P["dev_stdin"] = ('''\
data = open('/dev/stdin').read().split()
a = list(map(int, data[1:]))
print(sum(a), max(a))
''', SUM)
P["pyrival_fastio"] = ('''\
import os, sys
from io import BytesIO, IOBase
BUFSIZE = 8192
class FastIO(IOBase):
    newlines = 0
    def __init__(self, file):
        self._fd = file.fileno()
        self.buffer = BytesIO()
        self.writable = "x" in file.mode or "r" not in file.mode
        self.write = self.buffer.write if self.writable else None
    def read(self):
        while True:
            b = os.read(self._fd, max(os.fstat(self._fd).st_size, BUFSIZE))
            if not b:
                break
            ptr = self.buffer.tell()
            self.buffer.seek(0, 2), self.buffer.write(b), self.buffer.seek(ptr)
        self.newlines = 0
        return self.buffer.read()
    def readline(self):
        while self.newlines == 0:
            b = os.read(self._fd, max(os.fstat(self._fd).st_size, BUFSIZE))
            self.newlines = b.count(b"\\n") + (not b)
            ptr = self.buffer.tell()
            self.buffer.seek(0, 2), self.buffer.write(b), self.buffer.seek(ptr)
        self.newlines -= 1
        return self.buffer.readline()
    def flush(self):
        if self.writable:
            os.write(self._fd, self.buffer.getvalue())
            self.buffer.truncate(0), self.buffer.seek(0)
class IOWrapper(IOBase):
    def __init__(self, file):
        self.buffer = FastIO(file)
        self.flush = self.buffer.flush
        self.writable = self.buffer.writable
        self.write = lambda s: self.buffer.write(s.encode("ascii"))
        self.read = lambda: self.buffer.read().decode("ascii")
        self.readline = lambda: self.buffer.readline().decode("ascii")
sys.stdin, sys.stdout = IOWrapper(sys.stdin), IOWrapper(sys.stdout)
input = lambda: sys.stdin.readline().rstrip("\\r\\n")
def main():
    n = int(input())
    a = list(map(int, input().split()))
    print(sum(a), max(a))
if __name__ == "__main__":
    main()
''', SUM)
P["atexit_flush"] = ('''\
import sys, atexit, io
buf = io.StringIO()
atexit.register(lambda: sys.__stdout__.write(buf.getvalue()))
n, *a = map(int, sys.stdin.read().split())
buf.write(f'{sum(a)} {max(a)}\\n')
''', SUM)
P["stdin_buffer_readline"] = ('''\
import sys
input = sys.stdin.buffer.readline
n = int(input())
a = list(map(int, input().split()))
print(sum(a), max(a))
''', SUM)
P["fileinput"] = ('''\
import fileinput
lines = list(fileinput.input())
a = list(map(int, lines[1].split()))
print(sum(a), max(a))
''', SUM)

P["close_stdout"] = ("""\
import sys
n, *a = map(int, sys.stdin.read().split())
sys.stdout.write(f"{sum(a)} {max(a)}\\n")
sys.stdout.close()
""", SUM)
P["custom_stdout"] = ("""\
import os, sys
class Out:  # a writer of its own, without `closed`
    def __init__(self):
        self.parts = []
    def write(self, s):
        self.parts.append(s)
    def flush(self):
        os.write(1, "".join(self.parts).encode())
        self.parts = []
sys.stdout = Out()
n, *a = map(int, sys.stdin.read().split())
print(sum(a), max(a))
""", SUM)
