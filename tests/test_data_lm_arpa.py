"""The perplexity filter's models as ARPA files (axk1/text/arpa.py, `axk1 data lm export|import|tokens`): a model
trained here, written as ARPA, is read by KenLM (the `kenlm` package, a peer nobody here wrote) with the same
probability for every token; read back, it scores as before; broken files are errors naming file:line."""

import json
import math
import random
import re

import kenlm
import numpy as np
import pytest

from axk1.cli import main
from axk1.data.perplexity import PerplexityConfig, thresholds
from axk1.data.perplexity_model import lm_tokens
from axk1.text.arpa import SPACE, read_arpa, write_arpa
from axk1.text.korean import word_tokenize
from axk1.text.ngram_lm import NgramLM
from tests.perplexity_helpers import korean_split, licence_texts, prob


@pytest.fixture(scope="module")
def split() -> tuple[list[str], list[str]]:
    texts = licence_texts()
    return texts[::2], texts[1::2][:8]


def kenlm_token_scores(model: kenlm.Model, tokens: list[str], order: int) -> list[float]:
    """KenLM's log10 p of each token and of </s>, in our model's context: KenLM starts a sentence after one <s>, a
    sequence here is padded with order-1 of them, so they are given as words and their own scores dropped."""
    words = ["<s>"] * (order - 1) + [SPACE if t == " " else t for t in tokens]
    return [score for score, _, _ in model.full_scores(" ".join(words), bos=False, eos=True)][order - 1:]


def our_token_scores(lm: NgramLM, tokens: list[str]) -> list[float]:
    seq = [0] * (lm.order - 1) + lm.vocab.encode(tokens) + [1]
    return [lm.logprob(seq[i], seq[i - lm.order + 1:i]) / math.log(10) for i in range(lm.order - 1, len(seq))]


@pytest.mark.parametrize("order,units", [(3, "words"), (5, "words"), (5, "chars")])
def test_kenlm_reads_an_exported_model_with_the_same_probability_for_every_token(tmp_path, split, order, units):
    train, held = split
    lm = NgramLM.train([lm_tokens(t, units) for t in train], order)
    lm.save(tmp_path / "m.npz")
    assert main(["data", "lm", "export", str(tmp_path / "m.npz"), "-o", str(tmp_path / "m.arpa")]) == 0
    theirs = kenlm.Model(str(tmp_path / "m.arpa"))
    assert theirs.order == order
    worst, checked = 0.0, 0
    for text in held:
        tokens = lm_tokens(text, units)[:3000]
        ours, kl = our_token_scores(lm, tokens), kenlm_token_scores(theirs, tokens, order)
        assert len(ours) == len(kl) == len(tokens) + 1
        worst = max(worst, max(abs(a - b) for a, b in zip(ours, kl)))
        checked += len(ours)
    assert checked > 3000 and worst < 1e-5  # ARPA's 7 significant digits, float32 in the file


def test_a_korean_model_with_dates_goes_through_arpa_and_kenlm(tmp_path, capsys):
    """Kiwi keeps a date as one token with spaces inside ("00. 0. 00"): the export wrote it as several words, so
    neither `lm import` nor KenLM could read the file, and `lm tokens` gave lmplz other tokens than the filter's."""
    train, held = korean_split()
    # the corpus holds such tokens (else this test proves nothing)
    assert any(" " in t for text in train for t in word_tokenize(text, "kiwi"))
    lm = NgramLM.train([lm_tokens(t, "kiwi") for t in train], 3)
    lm.save(tmp_path / "ko.npz")
    assert main(["data", "lm", "export", str(tmp_path / "ko.npz"), "-o", str(tmp_path / "ko.arpa")]) == 0
    theirs = kenlm.Model(str(tmp_path / "ko.arpa"))
    tokens = lm_tokens(held[0], "kiwi")
    ours, kl = our_token_scores(lm, tokens), kenlm_token_scores(theirs, tokens, 3)
    assert max(abs(a - b) for a, b in zip(ours, kl)) < 1e-5
    back = read_arpa(tmp_path / "ko.arpa")
    assert back.order == 3 and set(back.vocab.tokens) == set(lm.vocab.tokens)
    capsys.readouterr()
    assert main(["data", "lm", "tokens", str(_jsonl(tmp_path, train)), "--units", "kiwi", "-o",
                 str(tmp_path / "t.txt")]) == 0
    counted = int(re.search(r"([\d,]+) kiwi tokens", capsys.readouterr().out).group(1).replace(",", ""))
    assert counted == len((tmp_path / "t.txt").read_text(encoding="utf-8").split())  # one word a token


def _jsonl(tmp_path, texts):
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    return path


def test_an_imported_arpa_model_scores_as_the_model_it_came_from(tmp_path, split, capsys):
    train, held = split
    lm = NgramLM.train([lm_tokens(t, "words") for t in train], 4)
    write_arpa(lm, tmp_path / "m.arpa")
    for i, text in enumerate(held):
        (tmp_path / f"held{i}.txt").write_text(text)
    args = ["data", "lm", "import", str(tmp_path / "m.arpa"), "--units", "words", "-o", str(tmp_path / "m.npz")]
    assert main(args + ["--reference", *(str(tmp_path / f"held{i}.txt") for i in range(len(held)))]) == 0
    assert "held-out perplexity of the reference documents: p50" in capsys.readouterr().out
    back = NgramLM.load(tmp_path / "m.npz")
    assert back.order == 4 and back.meta["units"] == "words" and len(back.meta["reference_perplexities"]) == len(held)
    for text in held:
        tokens = lm_tokens(text, "words")
        assert back.perplexity(tokens) == pytest.approx(lm.perplexity(tokens), rel=1e-5)
    # the filter takes it like a model trained here, a percentile of its reference documents included
    (path, top), = thresholds(PerplexityConfig(model=str(tmp_path / "m.npz"), percentile=90)).values()
    assert top == pytest.approx(np.percentile(back.meta["reference_perplexities"], 90))
    assert main(args) == 2  # the model file exists: --force to replace it
    assert "exists" in capsys.readouterr().err


def test_tokens_are_one_document_a_line_as_the_model_reads_them(tmp_path, capsys):
    docs = [{"id": "a", "text": "Hello, World 42!\nSecond line."}, {"id": "b", "text": "서울은 2024년에 컸다."}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
    assert main(["data", "lm", "tokens", str(tmp_path / "in.jsonl"), "--units", "words", "-o",
                 str(tmp_path / "w.txt")]) == 0
    assert (tmp_path / "w.txt").read_text().splitlines() == [" ".join(lm_tokens(d["text"], "words")) for d in docs]
    assert "lmplz -o 4 <" in capsys.readouterr().out
    assert main(["data", "lm", "tokens", str(tmp_path / "in.jsonl"), "--units", "chars", "-o",
                 str(tmp_path / "c.txt")]) == 0
    first = (tmp_path / "c.txt").read_text().splitlines()[0].split(" ")
    assert first[:7] == ["h", "e", "l", "l", "o", ",", SPACE]  # a space token is ▁: ARPA splits on whitespace


def test_broken_arpa_files_are_errors_that_name_the_line(tmp_path, capsys):
    lm = NgramLM.train([["a", "b", "c", "a", "b"], ["b", "c", "a"]], 3)
    good = write_arpa(lm, tmp_path / "good.arpa").read_text().splitlines()

    def refused(lines: list[str], match: str) -> None:
        bad = tmp_path / "bad.arpa"
        bad.write_text("\n".join(lines) + "\n")
        with pytest.raises(ValueError, match=match):
            read_arpa(bad)

    refused(good[:-2], "not a whole ARPA file")
    at = next(i for i, line in enumerate(good) if line.startswith("\\2-grams:")) + 1
    refused(good[:at] + ["oops\ta b"] + good[at + 1:], rf"bad.arpa:{at + 1}: 'oops' is not a number")
    refused(good[:at] + ["-1.0\ta"] + good[at + 1:], rf"bad.arpa:{at + 1}: 2 fields in a 2-gram line")
    refused([good[0], "ngram 1=3", "", "\\2-grams:", "-1\ta b"], "a 2-grams section the .data. header does not count")
    refused(good[:at] + good[at + 1:], "the header counts .* 2-grams, the file holds")  # a line lost, \\end\\ kept
    (tmp_path / "latin1.arpa").write_bytes("\n".join(good[:at] + ["-1.0\tcaf\xe9 b"] + good[at + 1:]).encode("latin-1"))
    with pytest.raises(ValueError, match=rf"latin1.arpa:{at + 1}: not UTF-8"):
        read_arpa(tmp_path / "latin1.arpa")
    (tmp_path / "junk.arpa").write_text("just some text\n")
    assert main(["data", "lm", "import", str(tmp_path / "junk.arpa"), "--units", "words", "-o",
                 str(tmp_path / "j.npz")]) == 2
    assert "junk.arpa:1: 'just some text' before any n-gram section" in capsys.readouterr().err
    assert main(["data", "lm", "import", str(tmp_path / "good.arpa"), "-o", str(tmp_path / "g.npz")]) == 2
    assert "give --units" in capsys.readouterr().err
    assert not (tmp_path / "j.npz").exists() and not (tmp_path / "g.npz").exists()


def test_a_model_loaded_for_scoring_keeps_hashes_not_ids(tmp_path, split):
    """The in-memory tables: 8-byte keys and a value per n-gram (the dicts of tuples they replace took ~200 bytes an
    n-gram); probabilities are the trained model's, unseen contexts back off, unseen words get the unigram share."""
    train, _ = split
    lm = NgramLM.train([lm_tokens(t, "words") for t in train], 4)
    loaded = NgramLM.load(lm.save(tmp_path / "m.npz"))
    assert loaded.arrays is None
    n = sum(len(t) for t in loaded.tables.values()) + sum(len(t) for t in loaded.gammas.values())
    held = sum(t.keys.nbytes + t.values.nbytes for t in [*loaded.tables.values(), *loaded.gammas.values()])
    assert held / n == 12
    rng = random.Random(0)
    words = [w for w in lm.vocab.tokens[3:]]
    for _ in range(200):
        context = rng.sample(words, 3)
        word = rng.choice(words + ["never-seen"])
        assert prob(loaded, word, context) == pytest.approx(prob(lm, word, context), rel=1e-5)
    with pytest.raises(ValueError, match="loaded for scoring only"):
        loaded.save(tmp_path / "again.npz")


def single_bos(arpa: str) -> str:
    """An ARPA file as KenLM's lmplz writes one: a sentence starts after one <s>, so no n-gram holds <s> twice."""
    lines, counts, order = [], {}, 0
    for line in arpa.splitlines():
        section = re.fullmatch(r"\\(\d+)-grams:", line)
        order = int(section.group(1)) if section else order
        if order and "\t" in line:
            if line.split("\t")[1].split().count("<s>") > 1:
                continue
            counts[order] = counts.get(order, 0) + 1
        lines.append(line)
    text = "\n".join(lines) + "\n"
    for k, c in counts.items():
        text = re.sub(rf"ngram {k}=\d+", f"ngram {k}={c}", text)
    return text


def test_an_imported_lmplz_style_model_scores_a_document_as_kenlm_scores_a_sentence(tmp_path, split):
    """The import's use: a model of lmplz has n-grams after one <s>. Padded with order-1 <s> here, the longer
    contexts are unseen and back off with weight 1, so a document's log-probability is KenLM's for the sentence
    (bos and eos on), the filter's perplexity the same."""
    train, held = split
    lm = NgramLM.train([lm_tokens(t, "words") for t in train], 4)
    write_arpa(lm, tmp_path / "full.arpa")
    (tmp_path / "lmplz.arpa").write_text(single_bos((tmp_path / "full.arpa").read_text()))
    theirs, ours = kenlm.Model(str(tmp_path / "lmplz.arpa")), read_arpa(tmp_path / "lmplz.arpa")
    for text in held:
        tokens = lm_tokens(text, "words")[:2000]
        logp, events = ours.score(ours.vocab.encode(tokens))
        assert logp / math.log(10) == pytest.approx(theirs.score(" ".join(tokens), bos=True, eos=True),
                                                    abs=1e-5 * events)
