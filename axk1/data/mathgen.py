"""Generated math and reasoning problems in Korean and English, each answer checked with sympy."""

from __future__ import annotations

import random

import sympy as sp

from axk1.text.korean import josa

_x = sp.Symbol("x")


def _factor(root: int) -> str:
    """The factor of a root as written: x - 7, x + 1 (not x - -1), x (not x - 0)."""
    return "x" if root == 0 else f"(x {'-' if root > 0 else '+'} {abs(root)})"


def linear_equation(rng: random.Random, korean: bool) -> dict:
    a, sol = rng.randint(2, 12), rng.randint(-20, 20)
    b = rng.randint(-30, 30)
    c = a * sol + b
    eq = sp.Eq(a * _x + b, c)
    roots = sp.solve(eq, _x)
    assert roots == [sol], (eq, roots)  # verified answer
    expr = f"{a}x {'+' if b >= 0 else '-'} {abs(b)} = {c}" if b else f"{a}x = {c}"
    # a negative constant is added to both sides, not "subtracted": "Subtract -28" taught odd notation
    if korean:
        step = (f"양변에서 {josa(b, '을/를')} 빼면" if b > 0 else f"양변에 {josa(-b, '을/를')} 더하면")
        step = f"{step} {a}x = {c - b} 이다. " if b else ""
        text = (f"문제: 다음 방정식을 만족하는 x의 값을 구하시오: {expr}\n풀이: {step}"
                f"양변을 {josa(a, '으로/로')} 나누면 x = {sol} 이다.\n답: {sol}")
    else:
        step = f"Subtract {b} from both sides" if b > 0 else f"Add {-b} to both sides"
        step = f"{step} to get {a}x = {c - b}. " if b else ""
        text = (f"Problem: Solve {expr} for x.\nSolution: {step}"
                f"Divide by {a}: x = {sol}.\nAnswer: {sol}")
    return {"text": text, "answer": str(sol), "domain": "math"}


def quadratic_roots(rng: random.Random, korean: bool) -> dict:
    r1, r2 = sorted(rng.sample(range(-9, 10), 2))
    poly = sp.expand((_x - r1) * (_x - r2))
    roots = sorted(sp.solve(sp.Eq(poly, 0), _x))
    assert roots == [r1, r2]
    p = str(poly).replace("**", "^").replace("*", "")
    factored = f"{_factor(r1)}{_factor(r2)}"
    if korean:
        text = (f"문제: 이차방정식 {p} = 0 의 두 근의 합을 구하시오.\n풀이: 인수분해하면 {factored} = 0 이므로 "
                f"두 근은 {r1}, {r2} 이다. 따라서 합은 {r1 + r2} 이다.\n답: {r1 + r2}")
    else:
        text = (f"Problem: Find the sum of the roots of {p} = 0.\nSolution: It factors as {factored} = 0, "
                f"so the roots are {r1} and {r2}; their sum is {r1 + r2}.\nAnswer: {r1 + r2}")
    return {"text": text, "answer": str(r1 + r2), "domain": "math"}


def derivative_value(rng: random.Random, korean: bool) -> dict:
    a, b, c, at = rng.randint(1, 6), rng.randint(-9, 9), rng.randint(-9, 9), rng.randint(-4, 4)
    f = a * _x**3 + b * _x**2 + c * _x
    value = int(sp.diff(f, _x).subs(_x, at))
    fs = str(f).replace("**", "^").replace("*", "")
    d = str(sp.diff(f, _x)).replace("**", "^").replace("*", "")
    if korean:
        text = f"문제: f(x) = {fs} 일 때 f'({at}) 의 값을 구하시오.\n풀이: f'(x) = {d} 이므로 f'({at}) = {value} 이다.\n답: {value}"
    else:
        text = f"Problem: For f(x) = {fs}, find f'({at}).\nSolution: f'(x) = {d}, so f'({at}) = {value}.\nAnswer: {value}"
    return {"text": text, "answer": str(value), "domain": "math"}


def word_problem(rng: random.Random, korean: bool) -> dict:
    """A multi-step reasoning problem with its chain of steps."""
    boxes, per_box, eaten, friends = rng.randint(3, 9), rng.randint(4, 12), rng.randint(1, 10), rng.randint(2, 5)
    total = boxes * per_box
    left = total - eaten
    share, rest = divmod(left, friends)
    s_total, s_left = sp.Integer(boxes) * per_box, sp.Integer(boxes) * per_box - eaten
    assert (int(s_total), int(s_left)) == (total, left) and share * friends + rest == left
    if korean:
        text = (f"문제: 사과가 {per_box}개씩 든 상자가 {boxes}개 있다. 그중 {eaten}개를 먹고 남은 사과를 친구 {friends}명이 "
                f"똑같이 나누면 한 사람이 몇 개를 받고 몇 개가 남는가?\n<think>\n단계 1: 전체 사과는 {boxes} × {per_box} = {total}개이다.\n"
                f"단계 2: {eaten}개를 먹었으므로 {total} - {eaten} = {left}개가 남는다.\n"
                f"단계 3: {left} ÷ {friends} = {share}, 나머지 {rest}.\n검산: {share} × {friends} + {rest} = {left}.\n</think>\n"
                f"따라서 한 사람이 {share}개를 받고 {rest}개가 남는다.\n답: {share}, {rest}")
    else:
        text = (f"Problem: There are {boxes} boxes with {per_box} apples each. After eating {eaten}, the rest are shared "
                f"equally by {friends} friends. How many does each get, and how many are left over?\n<think>\n"
                f"Step 1: {boxes} × {per_box} = {total} apples.\nStep 2: {total} - {eaten} = {left} remain.\n"
                f"Step 3: {left} ÷ {friends} = {share} remainder {rest}.\nCheck: {share} × {friends} + {rest} = {left}.\n"
                f"</think>\nTherefore each friend gets {share} and {rest} are left.\nAnswer: {share}, {rest}")
    return {"text": text, "answer": f"{share}, {rest}", "domain": "reasoning"}


GENERATORS = (linear_equation, quadratic_roots, derivative_value, word_problem)


def generate_problems(n: int, seed: int = 0) -> list[dict]:
    """n problems, alternating Korean and English, all generators in turn."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        rec = GENERATORS[i % len(GENERATORS)](rng, korean=(i // len(GENERATORS)) % 2 == 0)
        rec["id"] = f"gen-{seed}-{i}"
        rec["language"] = "ko" if (i // len(GENERATORS)) % 2 == 0 else "en"
        out.append(rec)
    return out
