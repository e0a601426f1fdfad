"""Synthetic data: recipe loading, reply formats, and each check on its own."""

from pathlib import Path

import pytest

from axk1.synth.dedup import NearDuplicateIndex
from axk1.synth.documents import looks_like_math, split_passages
from axk1.synth.filters import Decontaminator, SampleFilter
from axk1.synth.formats import parse_reply
from axk1.synth.recipe import SampleFilterConfig, PassageConfig, load_synth_recipe
from axk1.synth.text import grounding
from axk1.text.korean import hangul_ratio
from tests.aime_rows import ROWS, write_aime

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "synth" / "default.toml"


def test_default_recipe_loads_with_all_three_kinds_in_both_languages():
    recipe = load_synth_recipe(RECIPE)
    kinds = {t.kind for t in recipe.tasks}
    assert kinds == {"qa", "reasoning", "rewrite"}
    assert all(set(t.prompts) == {"ko", "en"} for t in recipe.tasks)
    assert all("{passage}" in text for t in recipe.tasks for text in t.prompt_texts.values())
    # The default decontamination set needs no file outside the repository (HumanEval ships with a dependency).
    assert Decontaminator(recipe.filters.benchmarks, RECIPE.parent).sets == {"humaneval": 164}


def test_an_empty_benchmark_list_is_accepted(tmp_path):
    (tmp_path / "p.txt").write_text("{passage}")
    (tmp_path / "r.toml").write_text('[filters]\nbenchmarks = []\n[[tasks]]\nname = "x"\nkind = "qa"\n'
                                     'prompts = { en = "p.txt" }\n')
    assert load_synth_recipe(tmp_path / "r.toml").filters.benchmarks == []


def test_recipe_errors_say_what_to_fix(tmp_path):
    (tmp_path / "p.txt").write_text("{passage}")
    bad = tmp_path / "bad.toml"
    bad.write_text('[[tasks]]\nname = "x"\nkind = "poem"\nprompts = { en = "p.txt" }\n')
    with pytest.raises(ValueError, match="kind 'poem' is not one of"):
        load_synth_recipe(bad)
    bad.write_text('[[tasks]]\nname = "x"\nkind = "qa"\nprompts = { en = "missing.txt" }\n')
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        load_synth_recipe(bad)
    bad.write_text('[teacher]\ntemprature = 1\n[[tasks]]\nname = "x"\nkind = "qa"\nprompts = { en = "p.txt" }\n')
    with pytest.raises(ValueError, match="unknown key 'temprature' \\(known: concurrency, max_reply_chars, max_tokens, model"):
        load_synth_recipe(bad)


def test_reply_formats_in_korean_and_english():
    qa = parse_reply("qa", "**질문:** 대한민국의 수도는?\n**답변:** 서울특별시입니다.")
    assert qa.error is None and qa.fields == {"question": "대한민국의 수도는?", "answer": "서울특별시입니다."}
    r = parse_reply("reasoning", "Problem: 2 apples and 3 more?\nSolution:\n1. Start with 2.\n2. Add 3.\n"
                                 "Final answer: 5", reasoning="thinking...")
    assert r.error is None and r.fields["final_answer"] == "5" and r.fields["teacher_reasoning"] == "thinking..."
    assert "5 steps" not in r.text and r.text.endswith("Final answer: 5")
    assert parse_reply("reasoning", "문제: x\n풀이:\n한 단계뿐\n최종 답: 1").error.startswith("format: the solution")
    assert parse_reply("qa", "Just some text").error.startswith("format:")
    assert parse_reply("rewrite", "Here is the rewrite:\nSeoul is big.").fields == {"text": "Seoul is big."}


def test_grounding_handles_korean_particles():
    passage = "서울특별시는 대한민국의 수도이며 인구는 약 940만 명이다."
    share, missing = grounding("대한민국의 수도는 서울특별시입니다. 인구는 940만 명입니다.", passage)
    assert share == 1.0 and missing == []
    share, missing = grounding("부산광역시가 수도입니다.", passage)
    assert share < 0.6 and "부산광역시" in missing
    assert hangul_ratio("서울 Seoul") == pytest.approx(2 / 7)


def _sample(text, kind="rewrite", language="en", answer=None, id="s1"):
    fields = {"answer": answer} if answer else {"text": text}
    return {"id": id, "text": text, "kind": kind, "language": language, "fields": fields,
            "metadata": {"finish_reason": "stop"}}


def test_each_check_rejects_with_its_reason(tmp_path):
    aime = write_aime(tmp_path)["en"]
    aime_problem = ROWS["en"][1]["problem"]
    decon = Decontaminator(["aime25_en.jsonl", "humaneval"], tmp_path, n=13)  # a path relative to the recipe
    assert decon.sets[aime.name] == len(ROWS["en"]) and decon.sets["humaneval"] == 164
    f = SampleFilter(SampleFilterConfig(), decon)
    passage = "The Han river flows through Seoul. " * 3
    assert f.check(_sample("short"), passage).startswith("length:")
    assert f.check(_sample("서울은 한강 옆에 있는 큰 도시입니다. " * 2), passage).startswith("language: not English")
    assert f.check(_sample("Seoul is a big city by the river. " * 2, language="ko"), passage).startswith("language: Hangul")
    assert f.check(_sample("Q?\n\nBusan is the capital of Mars.", kind="qa", answer="Busan is the capital of Mars."),
                   passage).startswith("grounding:")
    assert "aime25_en.jsonl" in f.check(_sample("Consider this: " + aime_problem), passage)
    humaneval = "from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n" \
                '    """ Check if in given list of numbers, are any two numbers closer to each other than\n' \
                '    given threshold.\n'
    assert "humaneval" in f.check(_sample("Explain this code. " + humaneval), passage)
    assert f.check(_sample(passage.strip()), passage).startswith("dedup: a copy of the source")
    good = "Seoul, the capital, lies on both banks of the Han, a wide river that crosses the city from east to west."
    assert f.check(_sample(good, id="a"), passage) is None
    # one word's ending changed: Jaccard 0.83 over 7-character shingles ("wide" -> "broad" is 0.75 now, 0.80 over
    # the 5-character shingles synthetic data used before it took the corpus dedup's)
    edited = _sample(good.replace("crosses", "crossed"), id="b")
    assert f.check(edited, passage).startswith("dedup: near-duplicate of a")


def test_near_duplicate_index_finds_edits_but_not_different_texts():
    index = NearDuplicateIndex(threshold=0.8)
    base = "Multi-head latent attention caches one compressed vector per token instead of full keys and values."
    index.add("x", base)
    assert index.find(base.upper())[0] == "x"  # exact after normalisation
    assert index.find(base.replace("compressed", "compressed, small"))[0] == "x"
    assert index.find("A completely different sentence about rivers, cities and the weather in spring.")[0] is None


def test_synthetic_samples_are_shingled_as_the_corpus_is_so_korean_spacing_does_not_hide_a_duplicate():
    """Synthetic data took 5-character shingles with the spaces in: a Korean sample respaced (한강을 사이에 ->
    한강을사이에) shared 44% of them with the original and was kept as new. Now the corpus dedup's 7-character
    shingles without whitespace, from one default (text/ngrams.py), for both."""
    from axk1.data.dedup import DedupConfig, ShingledMinhashSignature
    from axk1.text.ngrams import SHINGLE_CHARS, char_shingles

    index = NearDuplicateIndex(threshold=0.8)
    index.add("a", "서울은 한강을 사이에 두고 남북으로 나뉜 대한민국의 수도이며 인구가 가장 많은 도시입니다.")
    assert index.find("서울은 한강을사이에 두고 남북으로나뉜 대한민국의 수도이며 인구가 가장많은 도시 입니다.") == ("a", 1.0)
    assert DedupConfig().char_n_grams == SHINGLE_CHARS == 7
    corpus = ShingledMinhashSignature("/tmp/unused-sigs", DedupConfig(shingles="char"))
    text = "한국어 말뭉치를 처리하는 파이프라인입니다"  # no case, digits, diacritics or punctuation: one normal form
    assert set(corpus.get_shingles(text).ravel()) == {corpus._hash_func(g) for g in char_shingles(text)}


def test_passages_and_math_detection():
    text = "First paragraph. " * 20 + "\n\n" + "Second one. " * 30 + "\n\ntiny"
    passages = split_passages(text, PassageConfig(min_chars=100, max_chars=400, max_per_document=3))
    assert 1 <= len(passages) <= 3 and all(100 <= len(p) <= 400 for p in passages)
    assert looks_like_math("If 3x + 5 = 20 then x = 5, and 2^3 = 8.")
    assert not looks_like_math("Seoul is the capital of Korea.")


def test_a_teacher_reasoning_trace_copying_a_benchmark_row_is_contamination(tmp_path):
    """The trace is kept beside the sample (fields.teacher_reasoning): only the text was checked, so a trace that
    recited a contest problem word for word was kept."""
    write_aime(tmp_path)
    f = SampleFilter(SampleFilterConfig(), Decontaminator(["aime25_en.jsonl"], tmp_path))
    text = "Problem: A box holds 3 red and 4 blue balls. How many in two boxes?\n\nOne box holds 7.\nTwo hold 14.\n\n" \
           "Final answer: 14"
    sample = {**_sample(text, kind="reasoning", id="r"),
              "fields": {"problem": "A box holds 3 red and 4 blue balls. How many in two boxes?",
                         "solution": "One box holds 7.\nTwo hold 14.", "final_answer": "14",
                         "teacher_reasoning": "Let me recall a contest problem: " + ROWS["en"][1]["problem"]}}
    reason = f.check(sample, "A box of balls, counted twice: the arithmetic of boxes. " * 3)
    assert reason.startswith("decontamination: its fields.teacher_reasoning shares a 13-gram with "
                             "aime25_en.jsonl (t-2)")
    sample["fields"]["teacher_reasoning"] = "One box: 3 + 4 = 7. Two boxes: 14."
    assert f.check(sample, "A box of balls, counted twice: the arithmetic of boxes. " * 3) is None


def test_an_excerpt_of_the_passage_is_a_copy_and_a_rewrite_or_a_quoting_answer_is_not():
    """The copy rule was Jaccard over shingles: an excerpt of 75% or 60% of its passage, every character copied,
    scored 0.75 / 0.60 < 0.9 and was kept as a rewrite. Containment (the share of the sample's shingles the passage
    holds) is 1.0 for any excerpt. The passage is real prose (heapq's explanation, by François Pinard)."""
    import heapq

    about = heapq.__about__
    passage = " ".join(about[about.index("In the tree above"): about.index("in the tree.") + 12].split())
    f = SampleFilter(SampleFilterConfig(), None)
    for share in (0.75, 0.6, 0.25):
        reason = f.check(_sample(passage[: int(len(passage) * share)], id=str(share)), passage)
        assert reason == "dedup: a copy of the source passage (100% of its 7-character shingles are the passage's)"
    assert f.check(_sample("Here is a simpler version. " + passage[:600], id="pre"), passage).startswith(
        "dedup: a copy of the source passage (95%")
    rewrite = ("Think of a heap as a sports tournament drawn as a tree. Every spot k sits above two spots, 2*k+1 and "
               "2*k+2. Computers usually don't care who beat whom, so when a winner moves up, its old place is filled "
               "with another item from lower down, and the top one of three always beats the other two.")
    assert f.check(_sample(rewrite, id="rw"), passage) is None
    # a QA answer may quote its passage (grounding asks for it): the question is what the teacher writes anew
    first = passage.split(". ")[1] + "."
    qa = {**_sample(f"Who wins in a usual binary tournament?\n\n{first}", kind="qa", answer=first, id="qa"),
          "fields": {"question": "Who wins in a usual binary tournament?", "answer": first}}
    assert f.check(qa, passage) is None


def test_problems_differing_only_in_their_numbers_are_not_near_duplicates():
    """Digits are kept in the normal form so that such problems stay apart (docs/data.md), but past ~250 characters
    a few changed digits leave Jaccard 0.84-0.90 > 0.8 and 4 of 5 were merged. The numbers must now match too."""
    problem = ("A farmer has {a} sheep and buys {b} more at the market. Each sheep eats 2 kilograms of hay a day. The "
               "farmer stores hay in a barn that holds 900 kilograms when full, and the barn is full today. Hay is "
               "delivered once every week, on Monday morning, by a truck from the neighbouring village. For how many "
               "whole days will the hay in the barn feed all of the sheep before it runs out?")
    index = NearDuplicateIndex(threshold=0.8)
    for i, (a, b) in enumerate([(12, 5), (37, 18), (140, 75), (9, 3), (61, 44)]):
        text = problem.format(a=a, b=b)
        assert index.find(text)[0] is None, (a, b)
        index.add(str(i), text)
    # the same problem, reworded a little with the same numbers, is still one
    again = problem.format(a=37, b=18).replace("neighbouring village", "next village").replace("whole ", "")
    assert index.find(again)[0] == "1"


def test_a_two_word_rewording_of_a_short_problem_is_a_near_duplicate_and_distinct_articles_are_not():
    """"has/have" -> "owns/own" in a 190-character problem leaves Jaccard 0.789: kept as new under the old default
    0.8. At the default (0.7) it is caught, while no two of the constitution's 102 articles (distinct texts in the
    same formulaic words, the most alike at 0.27) are taken for one another."""
    import re

    from tests.korean_corpus import CORPUS

    threshold = SampleFilterConfig().near_dup_similarity
    problem = ("A farmer has 12 sheep and buys 5 more at the market on Monday. How many sheep does the farmer have "
               "after the purchase?\n\n1. He starts with 12 sheep.\n2. Adding 5 gives 17.\n\nFinal answer: 17")
    index = NearDuplicateIndex(threshold)
    index.add("a", problem)
    found, similarity = index.find(problem.replace("farmer has", "farmer owns").replace("farmer have", "farmer own"))
    assert found == "a" and 0.78 < similarity < 0.8
    text = (CORPUS / "kolaw" / "constitution.txt").read_text(encoding="utf-8")
    articles = [a.strip() for a in re.split(r"(?=제\d+조)", text) if len(a.strip()) > 60]
    index = NearDuplicateIndex(threshold)
    for i, article in enumerate(articles):
        assert index.find(article)[0] is None, article[:40]
        index.add(str(i), article)
    assert len(articles) == 102
