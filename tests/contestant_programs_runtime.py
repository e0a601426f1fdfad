"""Correct programs that lean on the runtime and the standard library the way contestants and models write them
(deep recursion, threads with a big stack, asyncio, rlimits, caches, exact and decimal numbers, heapq, bisect,
collections, numpy; tests/test_eval_contestant_programs.py runs them through the judge): name -> (code, tests).
Their input and output styles: contestant_programs.py."""

from tests.contestant_programs import SUM

DEEP = {"inputs": ["1\n", "5\n", "200000\n"], "outputs": ["0\n", "4\n", "199999\n"]}
FIB = {"inputs": ["10\n", "90\n", "1000\n"], "outputs": ["55\n", "2880067194370816120\n", "517691607\n"]}
GRAPH = {"inputs": ["4 4\n1 2 1\n2 3 2\n1 3 5\n3 4 1\n", "2 0\n"], "outputs": ["0 1 3 4\n", "0 -1\n"]}
P = {}  # name: (code, tests)
P["numpy"] = ('''\
import sys
import numpy as np
data = sys.stdin.read().split()
a = np.array(data[1:], dtype=np.int64)
print(int(a.sum()), int(a.max()))
''', SUM)
P["array_mod"] = ('''\
import sys
from array import array
data = sys.stdin.read().split()
a = array('q', map(int, data[1:]))
print(sum(a), max(a))
''', SUM)
P["asyncio_run"] = ('''\
import asyncio, subprocess, sys
async def main():
    n, *a = map(int, sys.stdin.read().split())
    print(sum(a), max(a))
asyncio.run(main())
''', SUM)
P["resource_stack"] = ('''\
import resource, sys
try:
    resource.setrlimit(resource.RLIMIT_STACK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
except (ValueError, OSError):
    pass
n, *a = map(int, sys.stdin.read().split())
print(sum(a), max(a))
''', SUM)
P["traceback_logging"] = ('''\
import sys, traceback
try:
    import os
    os.system('ulimit -s unlimited')
except Exception:
    traceback.print_exc()
n, *a = map(int, sys.stdin.read().split())
print(sum(a), max(a))
''', SUM)
P["thread_bigstack_join"] = ('''\
import sys, threading
def main():
    n = int(sys.stdin.readline())
    adj = [[] for _ in range(n)]
    for i in range(n - 1):
        adj[i].append(i + 1)
    def dfs(u):
        best = 0
        for v in adj[u]:
            best = max(best, dfs(v) + 1)
        return best
    print(dfs(0))
sys.setrecursionlimit(1 << 25)
threading.stack_size(1 << 27)
t = threading.Thread(target=main)
t.start()
t.join()
''', DEEP)
P["thread_bigstack_nojoin"] = ('''\
import sys, threading
def main():
    n = int(sys.stdin.readline())
    def depth(u):
        return 0 if u == n - 1 else depth(u + 1) + 1
    print(depth(0))
sys.setrecursionlimit(10 ** 6)
threading.stack_size(2 ** 27)
threading.Thread(target=main).start()
''', DEEP)
P["recursionlimit_main"] = ('''\
import sys
sys.setrecursionlimit(300000)
n = int(input())
def depth(u):
    return 0 if u == n - 1 else depth(u + 1) + 1
print(depth(0))
''', DEEP)
P["lru_cache"] = ('''\
import sys
from functools import lru_cache
sys.setrecursionlimit(10000)
MOD = 10**9 + 7
@lru_cache(maxsize=None)
def fib(n):
    return n if n < 2 else (fib(n - 1) + fib(n - 2))
n = int(input())
r = fib(n)
print(r if n <= 90 else r % MOD)
''', FIB)
P["functools_cache"] = ('''\
import sys
from functools import cache
sys.setrecursionlimit(10000)
@cache
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
n = int(input())
print(fib(n) if n <= 90 else fib(n) % (10**9 + 7))
''', FIB)
P["fractions"] = ('''\
from fractions import Fraction
n = int(input())
s = sum(Fraction(1, k) for k in range(1, n + 1))
print(f'{s.numerator}/{s.denominator}')
''',
    {"inputs": ["1\n", "3\n", "10\n"], "outputs": ["1/1\n", "11/6\n", "7381/2520\n"]})
P["decimal_prec"] = ('''\
from decimal import Decimal, getcontext
getcontext().prec = 60
n = int(input())
print(str(Decimal(n).sqrt())[:32])
''',
    {"inputs": ["2\n", "3\n"],
     "outputs": ["1.414213562373095048801688724209\n", "1.732050807568877293527446341505\n"]})
P["float_format"] = ('''\
import math
r = float(input())
print(f'{math.pi * r * r:.10f}')
''',
    {"inputs": ["1\n", "2.5\n"], "outputs": ["3.141592653589793\n", "19.634954084936208\n"]})
P["heapq_dijkstra"] = ('''\
import sys, heapq
from collections import defaultdict
def main():
    it = iter(sys.stdin.read().split())
    n, m = int(next(it)), int(next(it))
    g = defaultdict(list)
    for _ in range(m):
        u, v, w = int(next(it)), int(next(it)), int(next(it))
        g[u].append((v, w)); g[v].append((u, w))
    dist = [float('inf')] * (n + 1)
    dist[1] = 0
    pq = [(0, 1)]
    while pq:
        d, u = heapq.heappop(pq)
        if d > dist[u]:
            continue
        for v, w in g[u]:
            if d + w < dist[v]:
                dist[v] = d + w
                heapq.heappush(pq, (dist[v], v))
    print(*[x if x != float('inf') else -1 for x in dist[1:]])
main()
''', GRAPH)
P["bisect_lis"] = ('''\
import bisect
n = int(input())
a = list(map(int, input().split()))
t = []
for x in a:
    i = bisect.bisect_left(t, x)
    if i == len(t):
        t.append(x)
    else:
        t[i] = x
print(len(t))
''',
    {"inputs": ["6\n10 9 2 5 3 7\n", "1\n5\n"], "outputs": ["3\n", "1\n"]})
P["collections_mix"] = ('''\
from collections import Counter, deque, defaultdict, OrderedDict
s = input().strip()
c = Counter(s)
q = deque(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))
q.rotate(0)
print(' '.join(f'{k}{v}' for k, v in q))
''',
    {"inputs": ["banana\n", "z\n"], "outputs": ["a3 n2 b1\n", "z1\n"]})
P["itertools_mix"] = ('''\
from itertools import permutations, combinations, accumulate, product
n = int(input())
print(sum(1 for _ in permutations(range(n))), len(list(combinations(range(n), 2))),
      list(accumulate(range(n)))[-1], len(list(product('ab', repeat=n))))
''',
    {"inputs": ["3\n", "4\n"], "outputs": ["6 3 3 8\n", "24 6 6 16\n"]})
P["math_mix"] = ('''\
import math
n, k = map(int, input().split())
print(math.comb(n, k), math.isqrt(n * n + 1), math.gcd(n, k), math.lcm(n, k), math.prod(range(1, k + 1)))
''',
    {"inputs": ["10 3\n", "5 5\n"], "outputs": ["120 10 1 30 6\n", "1 5 5 5 120\n"]})
P["re_words"] = ('''\
import re, sys
text = sys.stdin.read()
words = re.findall(r'[a-z]+', text.lower())
print(len(words), max(words, key=len) if words else '')
''',
    {"inputs": ["Hello, world! Foo-bar baz.\n", "a\n"], "outputs": ["5 hello\n", "1 a\n"]})
P["typing_dataclass"] = ('''\
from dataclasses import dataclass, field
from typing import List, Optional, NamedTuple
class P(NamedTuple):
    x: int
    y: int = 0
@dataclass(order=True)
class Item:
    w: int
    name: str = field(compare=False)
def solve(items: List[Item]) -> Optional[Item]:
    return min(items) if items else None
n = int(input())
items = [Item(int(w), nm) for nm, w in (input().split() for _ in range(n))]
best = solve(items)
print(best.name, best.w, P(1).y)
''',
    {"inputs": ["3\napple 5\npear 2\nfig 9\n", "1\nx 1\n"], "outputs": ["pear 2 0\n", "x 1 0\n"]})
P["bigint_digits"] = ('''\
import sys
sys.set_int_max_str_digits(0)
n = int(input())
s = str(2 ** n)
print(len(s), s[:5])
''',
    {"inputs": ["20000\n", "10\n"], "outputs": ["6021 39802\n", "4 1024\n"]})
P["thread_pool"] = ('''\
import sys
from concurrent.futures import ThreadPoolExecutor
n, *a = map(int, sys.stdin.read().split())
with ThreadPoolExecutor(2) as ex:
    s, m = ex.submit(sum, a).result(), ex.submit(max, a).result()
print(s, m)
''', SUM)
