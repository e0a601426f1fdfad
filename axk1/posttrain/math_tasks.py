"""Math task families for post-training: integer answers, each computed twice (the worked steps of the trace, then
sympy on the problem's expression or equation), phrased in English and Korean with a short worked trace.

Answers stay in 0..999, the range the AIME grader accepts in \\boxed{}, so the same grader scores SFT samples,
RL rollouts and the benchmark. That caps every family at level 3 (three-digit operands).

A family is `make(rng, level, lang) -> dict` with prompt, answer, reasoning, response (tests and entry_point are
left to the code families).
"""

from __future__ import annotations

import random

import sympy as sp

from axk1.text.korean import josa

MAX_LEVEL = 3
_X = sp.Symbol("x")


def _response(answer: int, lang: str) -> str:
    return f"The answer is \\boxed{{{answer}}}." if lang == "en" else f"답은 \\boxed{{{answer}}}입니다."


def _so(answer: int, lang: str) -> str:
    return f"So {answer}." if lang == "en" else f"따라서 {answer}."


def _check(expression: str, answer: int) -> None:
    """The second computation: sympy parses the problem's expression from text, independently of the steps."""
    value = sp.sympify(expression)
    assert value == answer and 0 <= answer <= 999, (expression, value, answer)


def _carry_note(digit: int, carry: int, lang: str) -> str:
    return f", {digit} carry {carry}" if lang == "en" else f", {digit} 쓰고 {carry} 받아올림"


def column_add(a: int, b: int, lang: str) -> tuple[str, int]:
    """Right-to-left column addition: ("7+5=12, 2 carry 1; 3+4+1=8", 82). The last column is written whole."""
    da, db = str(a)[::-1], str(b)[::-1]
    width = max(len(da), len(db))
    steps, digits, carry = [], [], 0
    for i in range(width):
        x, y = int(da[i]) if i < len(da) else 0, int(db[i]) if i < len(db) else 0
        total = x + y + carry
        step = f"{x}+{y}" + (f"+{carry}" if carry else "") + f"={total}"
        if i == width - 1:
            digits.append(str(total))
        else:
            digits.append(str(total % 10))
            carry = total // 10
            step += _carry_note(total % 10, carry, lang) if carry else ""
        steps.append(step)
    return "; ".join(steps), int("".join(reversed(digits)))


def column_subtract(a: int, b: int, lang: str) -> tuple[str, int]:
    """Right-to-left column subtraction (a >= b): ("12-5=7, borrow 1; 7-4=3", 37); a column that lent one shows
    its reduced digit (8 became 7), as written on paper."""
    assert a >= b
    da, db = str(a)[::-1], str(b)[::-1]
    steps, digits, borrow = [], [], 0
    for i in range(len(da)):
        top, y = int(da[i]) - borrow, int(db[i]) if i < len(db) else 0
        borrow = 1 if top < y else 0
        top += 10 * borrow
        step = f"{top}-{y}={top - y}"
        if borrow:
            step += ", borrow 1" if lang == "en" else ", 받아내림"
        steps.append(step)
        digits.append(str(top - y))
    return "; ".join(steps), int("".join(reversed(digits)))


def column_multiply(a: int, d: int, lang: str) -> tuple[str, int]:
    """A number times one digit, right to left: ("7×6=42, 2 carry 4; 4×6+4=28", 282)."""
    da = str(a)[::-1]
    steps, digits, carry = [], [], 0
    for i, ch in enumerate(da):
        product = int(ch) * d + carry
        step = f"{ch}×{d}" + (f"+{carry}" if carry else "") + f"={product}"
        if i == len(da) - 1:
            digits.append(str(product))
        else:
            digits.append(str(product % 10))
            carry = product // 10
            step += _carry_note(product % 10, carry, lang) if carry else ""
        steps.append(step)
    return "; ".join(steps), int("".join(reversed(digits)))


def _digits(rng: random.Random, level: int, top: int = 999) -> int:
    """A number with `level` digits, at most `top`."""
    return rng.randint(10 ** (level - 1), min(10 ** level - 1, top))


def _column_row(rng: random.Random, prompts: list[str], steps: str, answer: int, lang: str) -> dict:
    """A column-arithmetic task: one of the phrasings, the digit steps as the trace, the boxed answer."""
    return {"prompt": rng.choice(prompts), "answer": str(answer), "reasoning": f"{steps}. {_so(answer, lang)}",
            "response": _response(answer, lang)}


def add(rng: random.Random, level: int, lang: str) -> dict:
    a = _digits(rng, level, top=899)  # level 3: leave room for a three-digit b with the sum within 999
    b = _digits(rng, level, top=999 - a)
    steps, answer = column_add(a, b, lang)
    _check(f"{a} + {b}", answer)
    prompts = {"en": [f"What is {a} plus {b}?", f"Compute {a} + {b}.", f"Find the sum of {a} and {b}."],
               "ko": [f"{josa(f'{a} 더하기 {b}', '은/는')} 얼마입니까?", f"{josa(f'{a} + {b}', '을/를')} 계산하세요.",
                      f"{josa(a, '과/와')} {b}의 합을 구하세요."]}
    return _column_row(rng, prompts[lang], steps, answer, lang)


def sub(rng: random.Random, level: int, lang: str) -> dict:
    a = _digits(rng, level)
    b = rng.randint(10 ** (level - 1), a)  # same number of digits, never above a: the answer is not negative
    steps, answer = column_subtract(a, b, lang)
    _check(f"{a} - {b}", answer)
    prompts = {"en": [f"What is {a} minus {b}?", f"Compute {a} - {b}.", f"Subtract {b} from {a}."],
               "ko": [f"{josa(f'{a} 빼기 {b}', '은/는')} 얼마입니까?", f"{josa(f'{a} - {b}', '을/를')} 계산하세요.",
                      f"{a}에서 {josa(b, '을/를')} 빼면 얼마입니까?"]}
    return _column_row(rng, prompts[lang], steps, answer, lang)


def mul(rng: random.Random, level: int, lang: str) -> dict:
    d = rng.randint(2, 9)
    a = rng.randint(2, 9) if level == 1 else _digits(rng, level, top=999 // d)
    steps, answer = column_multiply(a, d, lang)
    _check(f"{a} * {d}", answer)
    prompts = {"en": [f"What is {a} times {d}?", f"Compute {a} × {d}.", f"Multiply {a} by {d}."],
               "ko": [f"{josa(f'{a} 곱하기 {d}', '은/는')} 얼마입니까?", f"{josa(f'{a} × {d}', '을/를')} 계산하세요.",
                      f"{a}에 {josa(d, '을/를')} 곱하면 얼마입니까?"]}
    return _column_row(rng, prompts[lang], steps, answer, lang)


_ITEMS = (("apples", "사과"), ("cookies", "쿠키"), ("candies", "사탕"), ("tangerines", "귤"))
_CONTAINERS = (("boxes", "상자"), ("bags", "봉지"), ("baskets", "바구니"))
_NAMES = (("Tom", "민수"), ("Mia", "지아"), ("Sam", "서준"), ("Lily", "하은"))


def word(rng: random.Random, level: int, lang: str) -> dict:
    """Two steps: containers × items each, minus the ones eaten."""
    if level == 1:
        boxes, per = rng.randint(2, 5), rng.randint(2, 9)
        eaten = rng.randint(1, min(9, boxes * per - 1))
    elif level == 2:
        boxes, per = rng.randint(3, 9), rng.randint(10, 30)
        eaten = rng.randint(1, 20)
    else:
        boxes = rng.randint(10, 40)
        per = rng.randint(11, min(40, 999 // boxes))
        eaten = rng.randint(10, 99)
    total = boxes * per
    left = total - eaten
    _check(f"{boxes} * {per} - {eaten}", left)
    (item_en, item_ko), (box_en, box_ko), (name_en, name_ko) = (rng.choice(_ITEMS), rng.choice(_CONTAINERS),
                                                                 rng.choice(_NAMES))
    if lang == "en":
        prompt = (f"There are {boxes} {box_en} with {per} {item_en} in each. {name_en} eats {eaten} {item_en}. "
                  f"How many {item_en} are left?")
        reasoning = f"{boxes}×{per}={total} {item_en}. {total}-{eaten}={left} left. {_so(left, lang)}"
    else:
        prompt = (f"{box_ko} {boxes}개에 {josa(item_ko, '이/가')} {per}개씩 들어 있습니다. {josa(name_ko, '이/가')} "
                  f"{item_ko} {eaten}개를 먹었습니다. 남은 {josa(item_ko, '은/는')} 몇 개입니까?")
        reasoning = f"{boxes}×{per}={total}개. {total}-{eaten}={left}개 남음. {_so(left, lang)}"
    return {"prompt": prompt, "answer": str(left), "reasoning": reasoning, "response": _response(left, lang)}


def linear(rng: random.Random, level: int, lang: str) -> dict:
    """ax + b = c (or ax - b = c from level 3) with a whole, non-negative solution."""
    if level == 1:
        a, x, b = rng.randint(2, 5), rng.randint(0, 9), rng.randint(1, 9)
    elif level == 2:
        a, x, b = rng.randint(2, 9), rng.randint(2, 20), rng.randint(10, 50)
    else:
        a, x, b = rng.randint(3, 15), rng.randint(10, 60), rng.randint(10, 99) * rng.choice((1, -1))
    c = a * x + b
    solutions = sp.solve(sp.Eq(a * _X + b, c), _X)  # the second computation
    assert solutions == [x] and 0 <= x <= 999, (a, b, c, solutions)
    equation = f"{a}x {'+' if b > 0 else '-'} {abs(b)} = {c}"
    moved = f"{c}-{b}" if b > 0 else f"{c}+{-b}"  # b moved to the right-hand side
    steps = f"{a}x = {moved} = {c - b}. x = {c - b}÷{a} = {x}."
    if lang == "en":
        prompt = rng.choice([f"Solve for x: {equation}.", f"If {equation}, what is x?"])
    else:
        prompt = rng.choice([f"{equation}일 때, x의 값을 구하세요.", f"방정식 {josa(equation, '을/를')} 풀면 x는 얼마입니까?"])
    return {"prompt": prompt, "answer": str(x), "reasoning": f"{steps} {_so(x, lang)}", "response": _response(x, lang)}


FAMILIES = {"add": add, "sub": sub, "mul": mul, "word": word, "linear": linear}
