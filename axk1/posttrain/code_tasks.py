"""Small code task families for post-training: write one Python function, graded by assert-based unit tests.

Each task carries a reference solution (the response, in a ```python block) and tests whose expected values are
computed here by a second Python computation, written apart from the reference's source, not by running it. At
generation the reference must pass its tests, the expected values must not all be equal, and trivially wrong
stubs (constant returns, the input echoed back) must fail them, so every kept test set is right and
discriminating. Running code in-process with exec is only done for this
module's own reference code and stubs; model output is graded in the evaluation sandbox (posttrain/rewards.py).

Levels 1-3 are the template's difficulty: one expression, then a filter or a second operation, then a condition
or a split into words. A family is `make(rng, level, lang) -> dict` like the math families, plus tests and
entry_point.
"""

from __future__ import annotations

import random
from typing import Callable

from axk1.text.korean import josa

_WORDS = ("apple", "sky", "river", "code", "tree", "moon", "data", "light", "stone", "cat", "blue", "green",
          "orange", "idea", "music", "table", "window", "sun")
_LETTERS = "abcdefghijklmnoprstuy"
# Every argument name is read ending in a vowel in Korean (엑스, 와이, 밸류, 에스, 텍스트, 워드, 넘스, 넘버스, 엑스스),
# so the particles written after it in the Korean prompts are 를 and 가.
_INT_ARGS, _STR_ARGS, _LIST_ARGS = ("x", "y", "value"), ("s", "text", "word"), ("nums", "numbers", "xs")


def passes(source: str, tests: str) -> bool:
    """True when `source` then `tests` run without an exception, in a fresh namespace (our own code only)."""
    try:
        exec(compile(f"{source}\n\n{tests}\n", "<task>", "exec"), {"__name__": "__task__"})
    except Exception:
        return False
    return True


def _stubs(name: str, arg: str) -> list[str]:
    """Trivially wrong solutions that the tests must reject."""
    bodies = ["None", "0", "1", "-1", "True", "False", "''", "[]", arg]
    return [f"def {name}({arg}):\n    return {body}\n" for body in bodies]


def _ints(rng: random.Random, k: int = 4, lo: int = -20, hi: int = 60) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(k)]


def _lists(rng: random.Random, k: int = 4, lo: int = -10, hi: int = 60, min_len: int = 3) -> list[list[int]]:
    return [[rng.randint(lo, hi) for _ in range(rng.randint(min_len, 6))] for _ in range(k)]


def _strings(rng: random.Random, k: int = 4, min_len: int = 3) -> list[str]:
    return ["".join(rng.choice(_LETTERS) for _ in range(rng.randint(min_len, min_len + 5))) for _ in range(k)]


def _sentences(rng: random.Random, k: int = 4) -> list[str]:
    return [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 5))) for _ in range(k)]


def _task(name: str, arg: str, body: str, prompts: dict[str, str], reasoning: dict[str, str], lang: str,
          inputs: list, expected: Callable) -> dict:
    """The row fields of one task; `expected` is the separate computation the asserts are written from."""
    source = f"def {name}({arg}):\n{body}\n"
    inputs = list({repr(x): x for x in inputs}.values())  # each case once
    outputs = [expected(x) for x in inputs]
    tests = "".join(f"assert {name}({x!r}) == {y!r}\n" for x, y in zip(inputs, outputs))
    if lang == "en":
        prompt = f"Write a Python function `{name}({arg})` that {prompts['en']}"
    else:  # the argument names (x, s, nums) are read with a final vowel, hence 를
        prompt = f"{prompts['ko']} 파이썬 함수 `{name}({arg})`를 작성하세요."
    return {"prompt": prompt, "answer": "", "tests": tests, "entry_point": name,
            "reasoning": reasoning[lang], "response": f"```python\n{source}```", "source": source,
            "constant": len({repr(y) for y in outputs}) == 1}


def arith(rng: random.Random, level: int, lang: str) -> dict:
    v = rng.choice(_INT_ARGS)
    if level == 1:
        op = rng.choice("+-*")
        k = rng.randint(2, 12) if op == "*" else rng.randint(1, 99)
        names = {"+": ["add_n", "plus_k", "increase"], "-": ["sub_n", "minus_k", "decrease"],
                 "*": ["times_k", "scale", "multiply"]}[op]
        expr, fn = f"{v} {op} {k}", {"+": lambda x: x + k, "-": lambda x: x - k, "*": lambda x: x * k}[op]
    elif level == 2:
        a, b = rng.randint(2, 9), rng.randint(1, 20)
        names, expr, fn = ["scale_add", "linear", "affine"], f"{a} * {v} + {b}", lambda x: a * x + b
    else:
        m = rng.randint(3, 13)
        a, b = rng.choice([c for c in range(2, 10) if c % m]), rng.randint(1, 20)  # a % m == 0: a constant
        names, expr, fn = ["mod_hash", "wrap", "bucket"], f"({a} * {v} + {b}) % {m}", lambda x: (a * x + b) % m
    return _task(rng.choice(names), v, f"    return {expr}",
                 {"en": f"returns {expr}.", "ko": f"{josa(expr, '을/를')} 반환하는"},
                 {"en": f"Compute {expr} and return it.", "ko": f"{josa(expr, '을/를')} 계산해 반환합니다."}, lang,
                 _ints(rng), fn)


def predicate(rng: random.Random, level: int, lang: str) -> dict:
    """True/False conditions on an integer."""
    v = rng.choice(_INT_ARGS)
    a, b = rng.sample(range(2, 10), 2)
    k = rng.randint(0, 99)
    if level == 1:
        op = rng.choice(["even", "odd", "divisible", "greater", "less"])
        k = rng.randint(3, 12) if op == "divisible" else k
        names, expr, en, ko, fn = {
            "even": (["is_even", "even"], f"{v} % 2 == 0", f"{v} is even", "짝수이면", lambda x: x % 2 == 0),
            "odd": (["is_odd", "odd"], f"{v} % 2 == 1", f"{v} is odd", "홀수이면", lambda x: x % 2 == 1),
            "divisible": (["is_multiple", "divisible", "check_div"], f"{v} % {k} == 0", f"{v} is divisible by {k}",
                          f"{josa(k, '으로/로')} 나누어떨어지면", lambda x: x % k == 0),
            "greater": (["is_big", "above", "greater_than_k"], f"{v} > {k}", f"{v} is greater than {k}",
                        f"{k}보다 크면", lambda x: x > k),
            "less": (["is_small", "below", "less_than_k"], f"{v} < {k}", f"{v} is less than {k}", f"{k}보다 작으면",
                     lambda x: x < k)}[op]
        inputs = [k * rng.randint(1, 9), k, k + 1]
    elif level == 2:
        if rng.random() < 0.5:
            names, expr, fn = ["div_either", "either_multiple"], f"{v} % {a} == 0 or {v} % {b} == 0", \
                lambda x: x % a == 0 or x % b == 0
            en, ko = f"{v} is divisible by {a} or by {b}", f"{a} 또는 {josa(b, '으로/로')} 나누어떨어지면"
        else:
            lo, hi = sorted(rng.sample(range(0, 100), 2))
            names, expr, fn = ["in_range", "between"], f"{lo} <= {v} <= {hi}", lambda x: lo <= x <= hi
            en, ko = f"{v} is between {lo} and {hi}, inclusive", f"{lo} 이상 {hi} 이하이면"
        inputs = [a * rng.randint(1, 9), b * rng.randint(1, 9), rng.randint(0, 99)]
    else:
        if rng.random() < 0.5:
            names, expr, fn = ["div_not", "only_multiple"], f"{v} % {a} == 0 and {v} % {b} != 0", \
                lambda x: x % a == 0 and x % b != 0
            en, ko = f"{v} is divisible by {a} but not by {b}", \
                f"{josa(a, '으로/로')} 나누어떨어지고 {josa(b, '으로/로')}는 나누어떨어지지 않으면"
            inputs = [a * rng.randint(1, 9), a * b * rng.randint(1, 5)]
        else:
            names, expr, fn = ["big_even", "even_above"], f"{v} % 2 == 0 and {v} > {k}", lambda x: x % 2 == 0 and x > k
            en, ko = f"{v} is even and greater than {k}", f"짝수이면서 {k}보다 크면"
            inputs = [k + 1, k + 2, k]
    # every argument name is read ending in a vowel (엑스, 와이, 밸류), so the subject particle is 가
    return _task(rng.choice(names), v, f"    return {expr}",
                 {"en": f"returns True if {en}, and False otherwise.", "ko": f"{v}가 {ko} True, 아니면 False를 반환하는"},
                 {"en": f"Return the value of the condition {expr}.", "ko": f"조건 {expr}의 참/거짓 값을 반환합니다."},
                 lang, inputs + _ints(rng, 3, 0, 99), fn)


def strings(rng: random.Random, level: int, lang: str) -> dict:
    v, k = rng.choice(_STR_ARGS), rng.randint(2, 5)
    inputs = _strings(rng, min_len=k)
    if level == 1:
        op = rng.choice(["reverse", "repeat", "upper", "head"])
        names, expr, en, ko, why_en, why_ko, fn = {
            "reverse": (["reverse_string", "reverse", "flip"], f"{v}[::-1]", f"returns the string {v} reversed.",
                        f"문자열 {v}를 거꾸로 뒤집어 반환하는", "A slice with step -1 reverses a string.",
                        "스텝이 -1인 슬라이스로 문자열을 뒤집습니다.", lambda s: "".join(reversed(s))),
            "repeat": (["repeat", "repeat_k"], f"{v} * {k}", f"returns {v} repeated {k} times.",
                       f"문자열 {v}를 {k}번 반복한 문자열을 반환하는", f"Multiplying a string by {k} repeats it.",
                       f"문자열에 {josa(k, '을/를')} 곱하면 반복됩니다.", lambda s: "".join([s] * k)),
            "upper": (["shout", "to_upper", "upper_case"], f"{v}.upper()", f"returns {v} in upper case.",
                      f"문자열 {v}를 모두 대문자로 바꾸어 반환하는", "str.upper() converts every letter.",
                      "str.upper()로 모든 글자를 대문자로 바꿉니다.", lambda s: "".join(chr(ord(c) - 32) for c in s)),
            "head": (["head", "prefix", "first_k"], f"{v}[:{k}]", f"returns the first {k} characters of {v}.",
                     f"문자열 {v}의 앞 {k}글자를 반환하는", f"The slice [:{k}] keeps the first {k} characters.",
                     f"슬라이스 [:{k}]로 앞 {k}글자를 얻습니다.", lambda s: "".join(s[i] for i in range(k)))}[op]
    elif level == 2:
        op = rng.choice(["head_back", "tail_back", "rotate"])
        names, expr, en, ko, why_en, why_ko, fn = {
            "head_back": (["head_reversed", "first_k_back"], f"{v}[:{k}][::-1]",
                          f"returns the first {k} characters of {v}, reversed.", f"문자열 {v}의 앞 {k}글자를 뒤집어 반환하는",
                          f"Take {v}[:{k}], then reverse it with [::-1].", f"{v}[:{k}]를 잘라 [::-1]로 뒤집습니다.",
                          lambda s: "".join(reversed(s[:k]))),
            "tail_back": (["tail_reversed", "last_k_back"], f"{v}[-{k}:][::-1]",
                          f"returns the last {k} characters of {v}, reversed.", f"문자열 {v}의 뒤 {k}글자를 뒤집어 반환하는",
                          f"Take {v}[-{k}:], then reverse it with [::-1].", f"{v}[-{k}:]를 잘라 [::-1]로 뒤집습니다.",
                          lambda s: "".join(reversed(s[len(s) - k:]))),
            "rotate": (["rotate", "rotate_left"], f"{v}[{k}:] + {v}[:{k}]",
                       f"returns {v} with its first {k} characters moved to the end.",
                       f"문자열 {v}의 앞 {k}글자를 맨 뒤로 옮긴 문자열을 반환하는",
                       f"Join {v}[{k}:] and {v}[:{k}].", f"{v}[{k}:] 뒤에 {v}[:{k}]를 이어 붙입니다.",
                       lambda s: "".join(s[(i + k) % len(s)] for i in range(len(s))))}[op]
    else:
        op, sep = rng.choice(["reverse_words", "join", "long_words"]), rng.choice("-_,;+/")
        inputs = _sentences(rng)
        names, expr, en, ko, why_en, why_ko, fn = {
            "reverse_words": (["reverse_words", "words_backwards"], f"' '.join({v}.split()[::-1])",
                              f"returns the words of {v} in reverse order, joined by single spaces.",
                              f"문자열 {v}의 단어 순서를 거꾸로 바꾸어 공백 한 칸으로 이어 붙인 문자열을 반환하는",
                              f"Split {v} into words, reverse the list, and join it with spaces.",
                              f"{v}를 단어로 나누고 순서를 뒤집은 뒤 공백으로 이어 붙입니다.",
                              lambda s: " ".join(list(reversed(s.split())))),
            "join": (["join_words", "rejoin"], f"'{sep}'.join({v}.split())",
                     f"returns the words of {v} joined by '{sep}' instead of spaces.",
                     f"문자열 {v}의 단어 사이 공백을 '{sep}' 하나로 바꾼 문자열을 반환하는",
                     f"Split {v} into words and join them with '{sep}'.", f"{v}를 단어로 나누고 '{sep}'로 이어 붙입니다.",
                     lambda s: s.replace(" ", sep)),
            "long_words": (["long_words_only", "keep_long"], f"' '.join(w for w in {v}.split() if len(w) > {k})",
                           f"returns the words of {v} longer than {k} letters, joined by single spaces.",
                           f"문자열 {v}에서 {k}글자보다 긴 단어만 골라 공백 한 칸으로 이어 붙인 문자열을 반환하는",
                           f"Keep the words with len(w) > {k} and join them with spaces.",
                           f"len(w) > {k}인 단어만 남겨 공백으로 이어 붙입니다.",
                           lambda s: " ".join(filter(lambda w: len(w) > k, s.split())))}[op]
    return _task(rng.choice(names), v, f"    return {expr}", {"en": en, "ko": ko}, {"en": why_en, "ko": why_ko}, lang,
                 inputs, fn)


def lists(rng: random.Random, level: int, lang: str) -> dict:
    v = rng.choice(_LIST_ARGS)
    inputs = _lists(rng)
    if level == 1:
        op, k = rng.choice(["max", "min", "contains"]), rng.randint(0, 20)
        if op == "contains":
            names, body, fn = ["contains", "has_k"], f"    return {k} in {v}", lambda xs: xs.count(k) > 0
            en = f"returns True if {k} is in the list {v}, and False otherwise."
            ko = f"정수 리스트 {v}에 {josa(k, '이/가')} 들어 있으면 True, 아니면 False를 반환하는"
            why = {"en": f"The in operator tests whether {k} is in {v}.", "ko": f"in 연산자로 {k}의 포함 여부를 확인합니다."}
            inputs = _lists(rng, lo=0, hi=20) + [[k, k + 1, k + 2]]
        else:
            largest = op == "max"
            en_word, ko_word = ("largest", "가장 큰") if largest else ("smallest", "가장 작은")
            names, body = [f"{op}_of_list", en_word, f"find_{op}"], f"    return {op}({v})"
            fn = (lambda xs: sorted(xs)[-1]) if largest else (lambda xs: sorted(xs)[0])
            en, ko = f"returns the {en_word} number in the list {v}.", f"정수 리스트 {v}에서 {ko_word} 값을 반환하는"
            why = {"en": f"The built-in {op}() gives it directly.",
                   "ko": f"내장 함수 {op}(){'로' if largest else '으로'} {ko_word} 값을 바로 구합니다."}  # 맥스로, 민으로
    elif level == 2:
        op, k = rng.choice(["spread", "above", "add_k"]), rng.randint(1, 50)
        names, body, en, ko, why, fn = {
            "spread": (["spread", "value_range"], f"    return max({v}) - min({v})",
                       f"returns the largest number in the list {v} minus the smallest.",
                       f"정수 리스트 {v}에서 가장 큰 값과 가장 작은 값의 차를 반환하는",
                       {"en": f"Subtract min({v}) from max({v}).", "ko": f"max({v})에서 min({v})를 뺍니다."},
                       lambda xs: sorted(xs)[-1] - sorted(xs)[0]),
            "above": (["keep_above", "filter_big"], f"    return [n for n in {v} if n > {k}]",
                      f"returns a list of the numbers in {v} that are greater than {k}, in their original order.",
                      f"정수 리스트 {v}에서 {k}보다 큰 수만 원래 순서대로 담은 리스트를 반환하는",
                      {"en": f"A list comprehension keeps each n with n > {k}.",
                       "ko": f"리스트 컴프리헨션으로 n > {k}인 n만 남깁니다."}, lambda xs: list(filter(lambda n: n > k, xs))),
            "add_k": (["add_to_all", "shift_all"], f"    return [n + {k} for n in {v}]",
                      f"returns a new list with {k} added to each number of {v}.",
                      f"정수 리스트 {v}의 각 수에 {josa(k, '을/를')} 더한 새 리스트를 반환하는",
                      {"en": f"A list comprehension adds {k} to each n.",
                       "ko": f"리스트 컴프리헨션으로 각 n에 {josa(k, '을/를')} 더합니다."},
                      lambda xs: list(map(lambda n: n + k, xs)))}[op]
    else:
        op, k = rng.choice(["largest_below", "first_above"]), rng.randint(10, 50)
        inputs = _lists(rng, lo=0, hi=99) + [[k - rng.randint(0, 9) for _ in range(3)]]
        if op == "largest_below":
            names = ["largest_below", "max_under"]
            body = f"    smaller = [n for n in {v} if n < {k}]\n    return max(smaller) if smaller else -1"
            fn = lambda xs: sorted([-1] + [n for n in xs if n < k])[-1]
            en = f"returns the largest number in the list {v} that is less than {k}, or -1 if there is none."
            ko = f"정수 리스트 {v}에서 {k}보다 작은 값 중 가장 큰 값을 반환하고, 그런 값이 없으면 -1을 반환하는"
            why = {"en": f"Keep the numbers below {k}; return their max, or -1 when none is left.",
                   "ko": f"{k}보다 작은 수만 골라 최댓값을 반환하고, 없으면 -1을 반환합니다."}
        else:
            names = ["first_above", "index_over"]
            body = f"    for i, n in enumerate({v}):\n        if n > {k}:\n            return i\n    return -1"
            fn = lambda xs: next((i for i in range(len(xs)) if xs[i] > k), -1)
            en = f"returns the index of the first number in {v} that is greater than {k}, or -1 if there is none."
            ko = f"정수 리스트 {v}에서 {k}보다 큰 첫 번째 수의 인덱스를 반환하고, 그런 수가 없으면 -1을 반환하는"
            why = {"en": f"Scan with enumerate and return the first index i with {v}[i] > {k}; else -1.",
                   "ko": f"enumerate로 훑어 {v}[i] > {k}인 첫 i를 반환하고, 없으면 -1을 반환합니다."}
    return _task(rng.choice(names), v, body, {"en": en, "ko": ko}, why, lang, inputs, fn)


def count(rng: random.Random, level: int, lang: str) -> dict:
    v = rng.choice(_STR_ARGS)
    if level == 1:
        if rng.random() < 0.5:
            names = ["count_vowels", "vowel_count", "num_vowels"]
            body = f"    return sum(1 for c in {v} if c in 'aeiou')"
            en = f"returns the number of vowels (a, e, i, o, u) in the lowercase string {v}."
            ko = f"소문자 문자열 {v}에 들어 있는 모음(a, e, i, o, u)의 개수를 반환하는"
            why = {"en": f"Count the characters of {v} that are in 'aeiou'.",
                   "ko": f"{v}의 글자 중 'aeiou'에 속하는 것을 셉니다."}
            fn = lambda s: sum(s.count(vowel) for vowel in "aeiou")
        else:
            c = rng.choice(_LETTERS)
            names, body = ["count_letter", "letter_count"], f"    return {v}.count('{c}')"
            en, ko = f"returns how many times the letter '{c}' appears in {v}.", f"문자열 {v}에서 글자 '{c}'의 개수를 반환하는"
            why = {"en": f"{v}.count('{c}') counts it.", "ko": f"{v}.count('{c}')로 개수를 셉니다."}
            fn = lambda s: len([ch for ch in s if ch == c])
        inputs = _strings(rng) + [rng.choice("aeiou") * rng.randint(1, 3)]
    elif level == 2:
        chars = "".join(sorted(rng.sample(_LETTERS, 3)))
        names, body = ["count_chars", "count_in_set"], f"    return sum(1 for c in {v} if c in '{chars}')"
        en, ko = f"returns the number of characters of {v} that are in '{chars}'.", \
            f"문자열 {v}의 글자 중 '{chars}'에 들어 있는 글자의 개수를 반환하는"
        why = {"en": f"Count the characters c of {v} with c in '{chars}'.", "ko": f"c in '{chars}'인 글자 c를 셉니다."}
        fn = lambda s: sum(s.count(ch) for ch in chars)
        inputs = _strings(rng) + [chars]
    else:
        inputs = _sentences(rng)
        if rng.random() < 0.5:
            k = rng.randint(2, 5)
            names = ["count_long_words", "long_words"]
            body = f"    return len([w for w in {v}.split() if len(w) > {k}])"
            en, ko = f"returns the number of words in {v} longer than {k} letters.", \
                f"문자열 {v}에서 {k}글자보다 긴 단어의 개수를 반환하는"
            why = {"en": f"Split {v} into words and count those with len(w) > {k}.",
                   "ko": f"{v}를 단어로 나누고 len(w) > {k}인 단어를 셉니다."}
            fn = lambda s: sum(len(w) > k for w in s.split())
        else:
            c = rng.choice(sorted({w[0] for w in _WORDS}))
            names, body = ["count_initial", "words_starting"], \
                f"    return sum(1 for w in {v}.split() if w.startswith('{c}'))"
            en, ko = f"returns the number of words in {v} that start with '{c}'.", \
                f"문자열 {v}에서 첫 글자가 '{c}'인 단어의 개수를 반환하는"
            why = {"en": f"Split {v} into words and count those with w.startswith('{c}').",
                   "ko": f"{v}를 단어로 나누고 '{c}'로 시작하는 단어를 셉니다."}
            fn = lambda s: sum(w[0] == c for w in s.split())
    return _task(rng.choice(names), v, body, {"en": en, "ko": ko}, why, lang, inputs, fn)


def sums(rng: random.Random, level: int, lang: str) -> dict:
    v = rng.choice(_LIST_ARGS)
    if level == 1:
        k = rng.randint(2, 4)
        names, body, fn, en, ko, why = rng.choice([
            (["total", "sum_list", "add_all"], f"    return sum({v})", lambda xs: sum(xs),
             f"returns the sum of the numbers in the list {v}.", f"정수 리스트 {v}의 합을 반환하는",
             {"en": "The built-in sum() adds them up.", "ko": "내장 함수 sum()으로 모두 더합니다."}),
            (["sum_first", "head_sum"], f"    return sum({v}[:{k}])", lambda xs: sum(xs[i] for i in range(k)),
             f"returns the sum of the first {k} numbers in {v}.", f"정수 리스트 {v}의 앞 {k}개 수의 합을 반환하는",
             {"en": f"Add up the slice {v}[:{k}].", "ko": f"슬라이스 {v}[:{k}]의 합을 구합니다."}),
            (["sum_last", "tail_sum"], f"    return sum({v}[-{k}:])", lambda xs: sum(xs[len(xs) - k:]),
             f"returns the sum of the last {k} numbers in {v}.", f"정수 리스트 {v}의 뒤 {k}개 수의 합을 반환하는",
             {"en": f"Add up the slice {v}[-{k}:].", "ko": f"슬라이스 {v}[-{k}:]의 합을 구합니다."})])
    elif level == 2:
        if rng.random() < 0.5:
            k = rng.randint(2, 5)
            names, body = ["sum_multiples", "sum_divisible"], f"    return sum(n for n in {v} if n % {k} == 0)"
            fn = lambda xs: sum(n for n in xs if n % k == 0)
            en, ko = f"returns the sum of the numbers in {v} that are divisible by {k}.", \
                f"정수 리스트 {v}에서 {josa(k, '으로/로')} 나누어떨어지는 수들의 합을 반환하는"
            why = {"en": f"Add up the n with n % {k} == 0.", "ko": f"n % {k} == 0인 n만 더합니다."}
        else:
            k = rng.randint(0, 30)
            names, body = ["sum_above", "big_sum"], f"    return sum(n for n in {v} if n > {k})"
            fn = lambda xs: sum(filter(lambda n: n > k, xs))
            en, ko = f"returns the sum of the numbers in {v} that are greater than {k}.", \
                f"정수 리스트 {v}에서 {k}보다 큰 수들의 합을 반환하는"
            why = {"en": f"Add up the n with n > {k}.", "ko": f"n > {k}인 n만 더합니다."}
    else:
        k = rng.randint(0, 20)
        if rng.random() < 0.5:
            names, body = ["sum_squares_above", "big_square_sum"], f"    return sum(n * n for n in {v} if n > {k})"
            fn = lambda xs: sum(n ** 2 for n in xs if n > k)
            en, ko = f"returns the sum of the squares of the numbers in {v} that are greater than {k}.", \
                f"정수 리스트 {v}에서 {k}보다 큰 수들의 제곱의 합을 반환하는"
            why = {"en": f"Square each n > {k} and add the squares.", "ko": f"{k}보다 큰 n을 제곱해 모두 더합니다."}
        else:
            names, body = ["total_distance", "sum_abs_diff"], f"    return sum(abs(n - {k}) for n in {v})"
            fn = lambda xs: sum(n - k if n > k else k - n for n in xs)
            en, ko = f"returns the sum of abs(n - {k}) over the numbers n in {v}.", \
                f"정수 리스트 {v}의 각 수 n에 대해 abs(n - {k})를 모두 더한 값을 반환하는"
            why = {"en": f"Add abs(n - {k}) for every n.", "ko": f"모든 n에 대해 abs(n - {k})를 더합니다."}
    return _task(rng.choice(names), v, body, {"en": en, "ko": ko}, why, lang, _lists(rng, min_len=4), fn)


_MAKERS = {"code_arith": arith, "code_predicate": predicate, "code_string": strings, "code_list": lists,
           "code_count": count, "code_sum": sums}


def _verified(make: Callable) -> Callable:
    """Draws until the reference passes its tests, there are three cases or more, the expected values are not
    all equal (so no constant function passes) and every stub fails them (a draw whose inputs cannot tell a stub
    apart, e.g. only palindromes for `reverse`, is drawn again)."""

    def draw(rng: random.Random, level: int, lang: str) -> dict:
        for _ in range(50):
            row = make(rng, level, lang)
            source, constant, tests = row.pop("source"), row.pop("constant"), row["tests"]
            assert passes(source, tests), (source, tests)  # a bug in a template, not bad luck
            arg = source.split("(", 1)[1].split(")", 1)[0]
            stub_passes = any(passes(stub, tests) for stub in _stubs(row["entry_point"], arg))
            if tests.count("\n") >= 3 and not constant and not stub_passes:
                return row
        raise RuntimeError(f"{make.__name__}: no discriminating tests in 50 draws")

    draw.__name__ = make.__name__
    return draw


FAMILIES = {name: _verified(make) for name, make in _MAKERS.items()}
