"""The starter's generated math problems teach the notation a textbook would: `(x + 1)(x - 7)`, not `(x - -1)`;
"Add 28 to both sides", not "Subtract -28"; and a Korean particle that follows how the number is read (28을, 이십팔을;
12를, 십이를), checked here against each number's reading spelled out in Hangul and its last syllable's final
consonant, not against the generator's own rule."""

import re

from axk1.data.mathgen import generate_problems
from axk1.text.korean import josa

DIGITS = "영일이삼사오육칠팔구"


def reading(n: int) -> str:
    """The Sino-Korean reading of 0 <= n < 10,000: 28 이십팔, 100 백, 1,010 천십."""
    if n == 0:
        return "영"
    out = ""
    for value, unit in ((1000, "천"), (100, "백"), (10, "십"), (1, "")):
        d = n // value % 10
        if d:
            out += ("" if d == 1 and unit else DIGITS[d]) + unit
    return out


def final_consonant(syllable: str) -> int:
    """0: the syllable ends open; 8: in ㄹ; else another consonant (Unicode's Hangul syllable layout)."""
    return (ord(syllable) - 0xAC00) % 28


def test_readings_used_here_are_right():
    assert [reading(n) for n in (0, 1, 7, 10, 12, 28, 30, 100, 148, 1010)] == [
        "영", "일", "칠", "십", "십이", "이십팔", "삼십", "백", "백사십팔", "천십"]


def test_particles_follow_the_reading_of_the_number():
    for n in range(-300, 3000):
        last = final_consonant(reading(abs(n))[-1])
        assert josa(n, "을/를") == f"{n}{'를' if last == 0 else '을'}", n
        assert josa(n, "으로/로") == f"{n}{'로' if last in (0, 8) else '으로'}", n


def test_generated_problems_use_plain_notation_and_matching_particles():
    problems = [p for seed in range(30) for p in generate_problems(16, seed=seed)]
    texts = "\n".join(p["text"] for p in problems)
    for odd in (" - -", "+ -", "Subtract -", "(x - 0)", "(x + 0)", "에서 -", "에 -", "x + 0 =", "x - 0 ="):
        assert odd not in texts, odd
    assert "Add " in texts and "더하면" in texts and "Subtract " in texts and "빼면" in texts
    checked = 0
    for number, particle in re.findall(r"(-?\d+)(을|를|으로|로) ", texts):
        last = final_consonant(reading(abs(int(number)))[-1])
        want = {"을": last != 0, "를": last == 0, "으로": last not in (0, 8), "로": last in (0, 8)}[particle]
        assert want, f"{number}{particle}"
        checked += 1
    assert checked > 100
