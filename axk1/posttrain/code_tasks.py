"""Small code task families for post-training: write one Python function, graded by assert-based unit tests.

Each task carries a reference solution (the response, in a ```python block) and tests whose expected values are
computed here by a second, separate Python computation, not by running the reference. At generation the reference
must pass its tests and a set of trivial wrong stubs (constant returns, the input echoed back) must fail them, so
every kept test set is both right and discriminating. Running code in-process with exec is only done for this
module's own reference code and stubs; model output is graded in the evaluation sandbox (posttrain/rewards.py).

Levels 1-3 are the template's difficulty: one expression, then a filter or a second operation, then a condition
or a split into words. A family is `make(rng, level, lang) -> dict` like the math families, plus tests and
entry_point.
"""

from __future__ import annotations

import random
from typing import Callable

from axk1.posttrain.math_tasks import josa

_WORDS = ("apple", "sky", "river", "code", "tree", "moon", "data", "light", "stone", "cat", "blue", "green",
          "orange", "idea", "music", "table", "window", "sun")
_LETTERS = "abcdefghijklmnoprstuy"


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


def _lists(rng: random.Random, k: int = 4, lo: int = -10, hi: int = 60) -> list[list[int]]:
    return [[rng.randint(lo, hi) for _ in range(rng.randint(3, 6))] for _ in range(k)]


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
    if level == 1:
        k = rng.randint(1, 99)
        name, expr, fn = rng.choice(["add_n", "plus_k", "increase", "shift"]), f"x + {k}", lambda x: x + k
    elif level == 2:
        a, b = rng.randint(2, 9), rng.randint(1, 20)
        name, expr, fn = rng.choice(["scale_add", "linear", "affine"]), f"{a} * x + {b}", lambda x: a * x + b
    else:
        m = rng.randint(3, 13)
        a, b = rng.choice([a for a in range(2, 10) if a % m]), rng.randint(1, 20)  # a % m == 0: a constant
        name, expr = rng.choice(["mod_hash", "wrap", "bucket"]), f"({a} * x + {b}) % {m}"
        fn = lambda x: (a * x + b) % m
    return _task(name, "x", f"    return {expr}", {"en": f"returns {expr}.", "ko": f"{josa(expr, '을/를')} 반환하는"},
                 {"en": f"Compute {expr} and return it.", "ko": f"{josa(expr, '을/를')} 계산해 반환합니다."}, lang,
                 _ints(rng), fn)


def divisible(rng: random.Random, level: int, lang: str) -> dict:
    a, b = rng.sample(range(2, 10), 2)
    if level == 1:
        k = rng.randint(2, 12)
        if k == 2:
            name, en, ko = rng.choice(["is_even", "even"]), "x is even", "x가 짝수이면"
        else:
            name, en, ko = rng.choice(["is_multiple", "divisible", "check_div"]), f"x is divisible by {k}", \
                f"x가 {josa(k, '으로/로')} 나누어떨어지면"
        expr, fn, inputs = f"x % {k} == 0", lambda x: x % k == 0, [k * rng.randint(-5, 9) for _ in range(2)]
    elif level == 2:
        name, en = rng.choice(["div_either", "either_multiple"]), f"x is divisible by {a} or by {b}"
        ko = f"x가 {a} 또는 {josa(b, '으로/로')} 나누어떨어지면"
        expr, fn = f"x % {a} == 0 or x % {b} == 0", lambda x: x % a == 0 or x % b == 0
        inputs = [a * rng.randint(1, 9), b * rng.randint(1, 9)]
    else:
        name, en = rng.choice(["div_not", "only_multiple"]), f"x is divisible by {a} but not by {b}"
        ko = f"x가 {josa(a, '으로/로')} 나누어떨어지고 {josa(b, '으로/로')}는 나누어떨어지지 않으면"
        expr, fn = f"x % {a} == 0 and x % {b} != 0", lambda x: x % a == 0 and x % b != 0
        inputs = [a * rng.randint(1, 9), a * b * rng.randint(1, 5)]
    return _task(name, "x", f"    return {expr}",
                 {"en": f"returns True if {en}, and False otherwise.", "ko": f"{ko} True, 아니면 False를 반환하는"},
                 {"en": f"Use the remainder operator: return {expr}.",
                  "ko": f"나머지 연산자 %로 확인해 {expr}의 결과를 반환합니다."}, lang, inputs + _ints(rng, 3, 0, 99), fn)


def strings(rng: random.Random, level: int, lang: str) -> dict:
    if level == 1:
        name, body = rng.choice(["reverse_string", "reverse", "backwards", "flip"]), "    return s[::-1]"
        en, ko = "returns the string s reversed.", "문자열 s를 거꾸로 뒤집어 반환하는"
        why = {"en": "A slice with step -1 reverses a string.", "ko": "스텝이 -1인 슬라이스로 문자열을 뒤집습니다."}
        inputs, fn = _strings(rng), lambda s: "".join(reversed(s))
    elif level == 2:
        k = rng.randint(2, 6)
        name, body = rng.choice(["head_reversed", "first_k_back"]), f"    return s[:{k}][::-1]"
        en, ko = f"returns the first {k} characters of s, reversed.", f"문자열 s의 앞 {k}글자를 뒤집어 반환하는"
        why = {"en": f"Take s[:{k}], then reverse it with [::-1].", "ko": f"s[:{k}]를 잘라 [::-1]로 뒤집습니다."}
        inputs, fn = _strings(rng, min_len=k), lambda s: "".join(s[i] for i in range(k - 1, -1, -1))
    else:
        name, body = rng.choice(["reverse_words", "words_backwards"]), "    return ' '.join(s.split()[::-1])"
        en = "returns the words of s in reverse order, joined by single spaces."
        ko = "문자열 s의 단어 순서를 거꾸로 바꾸어 공백 한 칸으로 이어 붙인 문자열을 반환하는"
        why = {"en": "Split s into words, reverse the list, and join it with spaces.",
               "ko": "s를 단어로 나누고 순서를 뒤집은 뒤 공백으로 이어 붙입니다."}
        inputs, fn = _sentences(rng), lambda s: " ".join(list(reversed(s.split())))
    return _task(name, "s", body, {"en": en, "ko": ko}, why, lang, inputs, fn)


def lists(rng: random.Random, level: int, lang: str) -> dict:
    if level == 1:
        largest = rng.random() < 0.5
        builtin, en_word, ko_word = ("max", "largest", "가장 큰") if largest else ("min", "smallest", "가장 작은")
        name = rng.choice([f"{builtin}_of_list", en_word, f"find_{builtin}"])
        body, fn = f"    return {builtin}(nums)", (lambda v: sorted(v)[-1]) if largest else (lambda v: sorted(v)[0])
        en, ko = f"returns the {en_word} number in the list nums.", f"정수 리스트 nums에서 {ko_word} 값을 반환하는"
        why = {"en": f"The built-in {builtin}() gives it directly.",
               "ko": f"내장 함수 {builtin}(){'로' if largest else '으로'} {ko_word} 값을 바로 구합니다."}  # 맥스로, 민으로
        inputs = _lists(rng)
    elif level == 2:
        name, body, fn = rng.choice(["spread", "value_range"]), "    return max(nums) - min(nums)", \
            lambda v: sorted(v)[-1] - sorted(v)[0]
        en = "returns the largest number in the list nums minus the smallest."
        ko = "정수 리스트 nums에서 가장 큰 값과 가장 작은 값의 차를 반환하는"
        why = {"en": "Subtract min(nums) from max(nums).", "ko": "max(nums)에서 min(nums)를 뺍니다."}
        inputs = _lists(rng)
    else:
        k = rng.randint(10, 50)
        name = rng.choice(["largest_below", "max_under"])
        body = f"    smaller = [n for n in nums if n < {k}]\n    return max(smaller) if smaller else -1"
        fn = lambda v: sorted([-1] + [n for n in v if n < k])[-1]
        en = f"returns the largest number in the list nums that is less than {k}, or -1 if there is none."
        ko = f"정수 리스트 nums에서 {k}보다 작은 값 중 가장 큰 값을 반환하고, 그런 값이 없으면 -1을 반환하는"
        why = {"en": f"Keep the numbers below {k}; return their max, or -1 when none is left.",
               "ko": f"{k}보다 작은 수만 골라 최댓값을 반환하고, 없으면 -1을 반환합니다."}
        inputs = _lists(rng, lo=0, hi=99) + [[k + rng.randint(0, 9) for _ in range(3)]]
    return _task(name, "nums", body, {"en": en, "ko": ko}, why, lang, inputs, fn)


def count(rng: random.Random, level: int, lang: str) -> dict:
    if level == 1:
        name, body = rng.choice(["count_vowels", "vowel_count", "num_vowels"]), \
            "    return sum(1 for c in s if c in 'aeiou')"
        en = "returns the number of vowels (a, e, i, o, u) in the lowercase string s."
        ko = "소문자 문자열 s에 들어 있는 모음(a, e, i, o, u)의 개수를 반환하는"
        why = {"en": "Count the characters of s that are in 'aeiou'.", "ko": "s의 글자 중 'aeiou'에 속하는 것을 셉니다."}
        inputs, fn = _strings(rng), lambda s: sum(s.count(v) for v in "aeiou")
    elif level == 2:
        c = rng.choice("aeinorst")
        name, body = rng.choice(["count_letter", "letter_count"]), f"    return s.count('{c}')"
        en, ko = f"returns how many times the letter '{c}' appears in s.", f"문자열 s에서 글자 '{c}'의 개수를 반환하는"
        why = {"en": f"str.count('{c}') counts it.", "ko": f"str.count('{c}')로 개수를 셉니다."}
        inputs, fn = _strings(rng) + [c * rng.randint(1, 3)], lambda s: len([ch for ch in s if ch == c])
    else:
        k = rng.randint(2, 5)
        name = rng.choice(["count_long_words", "long_words"])
        body = f"    return len([w for w in s.split() if len(w) > {k}])"
        en, ko = f"returns the number of words in s longer than {k} letters.", f"문자열 s에서 {k}글자보다 긴 단어의 개수를 반환하는"
        why = {"en": f"Split s into words and count those with len(w) > {k}.",
               "ko": f"s를 단어로 나누고 len(w) > {k}인 단어를 셉니다."}
        inputs, fn = _sentences(rng), lambda s: sum(len(w) > k for w in s.split())
    return _task(name, "s", body, {"en": en, "ko": ko}, why, lang, inputs, fn)


def sums(rng: random.Random, level: int, lang: str) -> dict:
    if level == 1:
        name, body, fn = rng.choice(["total", "sum_list", "add_all"]), "    return sum(nums)", \
            sum
        en, ko = "returns the sum of the numbers in the list nums.", "정수 리스트 nums의 합을 반환하는"
        why = {"en": "The built-in sum() adds them up.", "ko": "내장 함수 sum()으로 모두 더합니다."}
    elif level == 2:
        k = rng.randint(2, 5)
        name, body = rng.choice(["sum_multiples", "sum_divisible"]), f"    return sum(n for n in nums if n % {k} == 0)"
        fn = lambda v: sum(n for n in v if n % k == 0)
        en, ko = f"returns the sum of the numbers in nums that are divisible by {k}.", \
            f"정수 리스트 nums에서 {josa(k, '으로/로')} 나누어떨어지는 수들의 합을 반환하는"
        why = {"en": f"Add up the n with n % {k} == 0.", "ko": f"n % {k} == 0인 n만 더합니다."}
    else:
        k = rng.randint(0, 20)
        name, body = rng.choice(["sum_squares_above", "big_square_sum"]), \
            f"    return sum(n * n for n in nums if n > {k})"
        fn = lambda v: sum(n ** 2 for n in v if n > k)
        en, ko = f"returns the sum of the squares of the numbers in nums that are greater than {k}.", \
            f"정수 리스트 nums에서 {k}보다 큰 수들의 제곱의 합을 반환하는"
        why = {"en": f"Square each n > {k} and add the squares.", "ko": f"{k}보다 큰 n을 제곱해 모두 더합니다."}
    return _task(name, "nums", body, {"en": en, "ko": ko}, why, lang, _lists(rng), fn)


_MAKERS = {"code_arith": arith, "code_divisible": divisible, "code_string": strings, "code_list": lists,
           "code_count": count, "code_sum": sums}


def _verified(make: Callable) -> Callable:
    """Draws until the reference passes its tests, the expected values are not all equal (so no constant
    function passes) and every stub fails them (a draw whose inputs cannot tell a stub apart, e.g. only
    palindromes for `reverse`, is drawn again)."""

    def draw(rng: random.Random, level: int, lang: str) -> dict:
        for _ in range(50):
            row = make(rng, level, lang)
            source, constant = row.pop("source"), row.pop("constant")
            assert passes(source, row["tests"]), (source, row["tests"])  # a bug here, not bad luck
            arg = source.split("(", 1)[1].split(")", 1)[0]
            if not constant and not any(passes(stub, row["tests"]) for stub in _stubs(row["entry_point"], arg)):
                return row
        raise RuntimeError(f"{make.__name__}: no discriminating tests in 50 draws")

    draw.__name__ = make.__name__
    return draw


FAMILIES = {name: _verified(make) for name, make in _MAKERS.items()}
