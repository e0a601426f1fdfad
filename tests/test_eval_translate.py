"""LCB-ko's translation check: a translation must be Korean (an English echo or the model's own solution is not),
checked on hand-written statements shaped like LiveCodeBench's and on the public Korean AIME 2025 statements."""

import json

import pytest

from axk1.eval.backends import Completion
from axk1.eval.translate import MIN_HANGUL_SHARE, TranslationCache, hangul_share, survival_problems, translate_all
from tests.aime_files import AIME_DIR, needs_aime


SOURCE = "You are given an integer N (1 <= N <= 10^5). Print `2N`.\n\nSample Input 1\n\n3\n\nSample Output 1\n\n6"
SOLVED = ("Here is the solution.\n```python\nN=int(input())  # 1 <= N <= 10^5, `2N`\nprint(2*N)\n```\n"
          "Sample Input 1\n3\nSample Output 1\n6\n")
ATCODER = ("You are given a string S of length N consisting of lowercase English letters.\nIf S is a palindrome, print "
           "Yes; otherwise, print No.\n\nInput\n\nThe input is given from Standard Input in the following format:\nN\nS"
           "\n\nOutput\n\nPrint the answer.\n\nConstraints\n\n- 1 \\leq N \\leq 100\n- N is an integer.\n\n"
           "Sample Input 1\n\n5\nlevel\n\nSample Output 1\n\nYes")
ATCODER_KO = ("영어 소문자로 이루어진 길이 N의 문자열 S가 주어집니다.\nS가 회문이면 Yes를, 그렇지 않으면 No를 출력하세요.\n\n"
              "Input\n\nThe input is given from Standard Input in the following format:\nN\nS\n\nOutput\n\n"
              "답을 출력하세요.\n\nConstraints\n\n- 1 \\leq N \\leq 100\n- N은 정수입니다.\n\n"
              "Sample Input 1\n\n5\nlevel\n\nSample Output 1\n\nYes")
LEETCODE = ("You are given an integer array nums and an integer k. Return the number of subarrays whose sum equals k."
            "\n\nExample 1:\n\nInput: nums = [1,1,1], k = 2\nOutput: 2\nExplanation: The subarrays [1,1] starting at "
            "index 0 and index 1 both sum to 2.\n\nConstraints:\n\n1 <= nums.length <= 2 * 10^4")
LEETCODE_KO = ("정수 배열 nums와 정수 k가 주어집니다. 합이 k인 부분 배열의 개수를 반환하세요.\n\nExample 1:\n\n"
               "Input: nums = [1,1,1], k = 2\nOutput: 2\nExplanation: 인덱스 0과 인덱스 1에서 시작하는 부분 배열 [1,1]의 "
               "합은 모두 2입니다.\n\nConstraints:\n\n1 <= nums.length <= 2 * 10^4")


@pytest.mark.parametrize("translated, why", [
    (SOURCE, "not Korean: 0%"),  # an English echo keeps every span, number and sample line
    (SOLVED, "a code block the source does not have"),  # the model solved the problem instead
    (ATCODER.replace("If S is a palindrome", "S가 회문이면"), "not Korean"),  # one clause translated, the rest echoed
    ("5\nlevel\n\nYes", "not translated: no prose"),  # only the sample lines
])
def test_a_translation_that_is_not_korean_is_refused(translated, why):
    source = SOURCE if translated in (SOURCE, SOLVED) else ATCODER
    problems = survival_problems(source, translated)
    assert any(p.startswith(why) for p in problems), problems


@pytest.mark.parametrize("source, translated", [(ATCODER, ATCODER_KO), (LEETCODE, LEETCODE_KO),
                                                ("Add the numbers 3 and 4.", "다음 수 3 과 4 를 더하세요.")])
def test_a_korean_translation_keeping_identifiers_headings_and_a_format_line_passes(source, translated):
    assert survival_problems(source, translated) == []
    assert hangul_share(source, translated) > MIN_HANGUL_SHARE


@needs_aime
def test_the_threshold_sits_between_the_real_korean_and_english_aime_statements():
    """MIN_HANGUL_SHARE's evidence: the public Korean AIME 2025 statements read as translations of the English ones
    (0.89 at the lowest), and the English ones as an echo or a "translation" of the Korean (0)."""
    read = lambda lang: {json.loads(line)["id"]: json.loads(line)["problem"]  # noqa: E731
                         for line in (AIME_DIR / f"aime25_{lang}.jsonl").read_text(encoding="utf-8").splitlines()}
    en, ko = read("en"), read("ko")
    korean = [hangul_share(en[pid], ko[pid]) for pid in en]
    assert len(korean) == 30 and min(korean) >= 2 * MIN_HANGUL_SHARE, sorted(korean)[:3]
    assert max(hangul_share(en[pid], en[pid]) or 0.0 for pid in en) == 0.0
    assert max(hangul_share(ko[pid], en[pid]) or 0.0 for pid in en) == 0.0


def test_statements_translations_and_replies_are_korean_by_one_rule():
    """One measure of Korean prose (axk1/text/korean.py) for the AIME statement check, the translation check and
    LCB-ko's response-language rate. A reply's math, inline code and one-letter identifiers are not English: the
    reply check counted every Latin letter outside fenced blocks, so a Korean reply full of `$\\angle ABC$` or
    `dp[i][j]` read as English. A reply whose prose is English is not Korean whatever its code holds."""
    from axk1.eval.tasks.aime_check import statement_language
    from axk1.eval.tasks.lcb import response_is_korean

    reply = ("`dp[i][j]`는 $\\angle ABC = \\frac{\\pi}{3}$, $\\overline{AB} = \\sqrt{3}$ 입니다. 답은 N.\n"
             "```python\nprint('정답')\n```")
    assert response_is_korean(reply) and statement_language(reply) == "ko"
    english = "Use a dictionary here; the answer is N.\n```python\n# 정답을 출력합니다\nprint('정답입니다')\n```"
    assert not response_is_korean(english) and statement_language(english) == "en"
    assert not response_is_korean("```python\nprint(1)\n```") and statement_language("$x + y$") == "other"


@needs_aime
def test_the_real_korean_aime_statements_read_as_korean_replies_and_the_english_ones_do_not():
    """Two of the Korean statements (2025-II-4, 2025-II-5: a product of logarithms, a triangle's angles) are mostly
    math; as replies they read as English (0.21, 0.29 of letters Hangul) until math stopped counting."""
    from axk1.eval.tasks.lcb import response_is_korean

    read = lambda lang: [json.loads(line)["problem"]  # noqa: E731
                         for line in (AIME_DIR / f"aime25_{lang}.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(map(response_is_korean, read("ko"))) and not any(map(response_is_korean, read("en")))


def test_an_echoing_translator_is_refused_with_the_reason_and_retried(tmp_path):
    class Echo:
        calls = 0

        def describe(self):
            return {"name": "echo"}

        def generate(self, requests, sampling, done=None):
            Echo.calls += len(requests)
            return [Completion(r.messages[0]["content"].split("\n\n", 1)[1]) for r in requests]

    results, _ = translate_all({"q": SOURCE}, Echo(), TranslationCache(tmp_path / "cache.json"))
    assert not results["q"].ok and not results["q"].failed and Echo.calls == 2
    assert results["q"].problems[0].startswith("not Korean"), results["q"].problems


def test_two_evals_sharing_a_translation_cache_both_save(tmp_path, monkeypatch):
    """Every save went through one fixed `<cache>.tmp`: a second eval on the same --translation-cache renamed it away
    between this one's write and its rename, and this one died (FileNotFoundError). The other eval's whole save is
    run at that moment, as another process (its own pid)."""
    import os

    path = tmp_path / "cache.json"
    mine, other = TranslationCache(path), TranslationCache(path)
    mine.entries, other.entries = {"a": "mine"}, {"b": "other"}
    real_replace, pid = os.replace, {"now": 1000}
    monkeypatch.setattr(os, "getpid", lambda: pid["now"])

    def replace(src, dst):  # the other eval saves between this one's write and its rename
        if pid["now"] == 1000:
            pid["now"] = 2000
            other.save()
            pid["now"] = 1000
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    mine.save()
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": "mine"}  # the last rename wins, whole
    assert [p.name for p in tmp_path.iterdir()] == ["cache.json"]  # no temporary file left behind


class _Interrupted:
    """A local translator (answers one at a time, `done` called as each ends) that a Ctrl-C stops once it has
    translated `before` statements; what the cache file held on disk at that moment is kept in `on_disk`."""

    def __init__(self, translations: dict[str, str], before: int, cache_path):
        self.translations, self.before, self.cache_path = translations, before, cache_path
        self.asked: list[str] = []
        self.on_disk: dict | None = None

    def describe(self):
        return {"name": "local"}

    def generate(self, requests, sampling, done=None):
        out = []
        for i, request in enumerate(requests):
            source = request.messages[0]["content"].split("\n\n", 1)[1]
            self.asked.append(source)
            if len(self.asked) > self.before:
                self.on_disk = json.loads(self.cache_path.read_text()) if self.cache_path.exists() else {}
                raise KeyboardInterrupt
            out.append(Completion(self.translations[source]))
            if done is not None:
                done(i, out[-1])
        return out


def test_an_interrupted_translation_keeps_what_it_translated(tmp_path, monkeypatch):
    """translate_all saved its cache once every statement was translated, and asked the backend without `done`:
    a Ctrl-C (or a kill) an hour into LCB-ko's translation on a local translator lost every translation. They
    are saved as they arrive now (every SAVE_EVERY_S; 0 here), and the next run asks only for the rest."""
    import axk1.eval.translate as translate

    monkeypatch.setattr(translate, "SAVE_EVERY_S", 0.0)
    korean = {ATCODER: ATCODER_KO, LEETCODE: LEETCODE_KO,
              "Add the numbers 3 and 4.": "다음 수 3 과 4 를 더하세요."}
    texts = dict(zip(("q1", "q2", "q3"), korean))
    path = tmp_path / "cache.json"
    stopped = _Interrupted(korean, 2, path)
    with pytest.raises(KeyboardInterrupt):
        translate_all(texts, stopped, TranslationCache(path))
    kept = sorted(e["text"] for e in json.loads(path.read_text()).values())
    assert kept == sorted([ATCODER_KO, LEETCODE_KO])  # saved as they came: on disk before the interrupt too
    assert sorted(e["text"] for e in stopped.on_disk.values()) == kept
    again = _Interrupted(korean, 3, path)
    results, _ = translate_all(texts, again, TranslationCache(path))
    assert again.asked == ["Add the numbers 3 and 4."]  # only what the interrupted run had not translated
    assert all(t.ok for t in results.values()) and results["q1"].text == ATCODER_KO


def test_a_refused_translation_whose_retry_was_interrupted_is_retried_by_the_next_run(tmp_path):
    """Kept as it arrives, a translation the survival check refused must not become final before its retry."""
    path = tmp_path / "cache.json"
    echo = _Interrupted({ATCODER: ATCODER}, 1, path)  # an English echo: refused, then a Ctrl-C before the retry
    with pytest.raises(KeyboardInterrupt):
        translate_all({"q1": ATCODER}, echo, TranslationCache(path))
    fixed = _Interrupted({ATCODER: ATCODER_KO}, 3, path)
    results, _ = translate_all({"q1": ATCODER}, fixed, TranslationCache(path))
    assert fixed.asked == [ATCODER] and results["q1"].ok and results["q1"].text == ATCODER_KO
