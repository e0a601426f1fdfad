"""The perplexity filter (axk1/data/perplexity.py) and its n-gram model (axk1/text/ngram_lm.py): probabilities
checked against nltk's Kneser-Ney; real text nobody here wrote kept, the same text with its words shuffled or
turned to character junk removed: Korean from konlpy's bills and constitution, English from the licence files of
the packages in the venv."""

import itertools
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from datatrove.data import Document
from nltk.lm import KneserNeyInterpolated
from nltk.lm.preprocessing import padded_everygram_pipeline

from axk1.data.config import config_from_dict
from axk1.data.perplexity import PerplexityConfig, PerplexityFilter, thresholds
from axk1.data.perplexity_model import train_reference_model
from axk1.data.stats import account, iter_records
from axk1.text.ngram_lm import BOS, EOS, NgramLM, read_meta
from tests.korean_corpus import CORPUS
from tests.perplexity_helpers import SITE_PACKAGES, korean_split, licence_texts, prob


def shuffled_words(text: str, rng: random.Random) -> str:
    words = text.split()
    rng.shuffle(words)
    return " ".join(words)


def shuffled_in_lines(text: str, rng: random.Random) -> str:
    """Each line keeps its words, in another order."""
    return "\n".join(" ".join(rng.sample(line.split(), len(line.split()))) for line in text.split("\n"))


def character_junk(text: str, rng: random.Random) -> str:
    """The text's own characters in random order, cut into five-character words."""
    chars = [c for c in text if not c.isspace()]
    rng.shuffle(chars)
    return " ".join("".join(chars[i:i + 5]) for i in range(0, len(chars), 5))


SPOILERS = {"words_shuffled": shuffled_words, "words_shuffled_in_lines": shuffled_in_lines,
            "character_junk": character_junk}


@pytest.fixture(scope="module")
def korean_model(tmp_path_factory) -> Path:
    reference, _ = korean_split()
    path = tmp_path_factory.mktemp("lm") / "ko.npz"
    return train_reference_model(reference, 3, "kiwi", folds=len(reference), progress=False).save(path)


@pytest.fixture(scope="module")
def english_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lm") / "en.npz"
    return train_reference_model(licence_texts()[::2], 3, "words", folds=5, progress=False).save(path)


def judged(flt: PerplexityFilter, text: str, language: str) -> tuple[object, dict]:
    doc = Document(text, "d", metadata={"language": language})
    return flt.filter(doc), doc.metadata


def check_held_out(model: Path, held_out: list[str], language: str, percentile: float) -> None:
    flt = PerplexityFilter(thresholds(PerplexityConfig(model=str(model), percentile=percentile)))
    rng = random.Random(0)
    for text in held_out:
        verdict, meta = judged(flt, text, language)
        assert verdict is True, (text[:40], meta)
        assert meta["perplexity"] > 1
        for name, spoil in SPOILERS.items():
            verdict, bad = judged(flt, spoil(text, rng), language)
            assert verdict == (False, "perplexity_too_high"), (name, text[:40], bad, meta)
            assert bad["perplexity"] > bad["perplexity_threshold"] > meta["perplexity"]


def test_held_out_korean_is_kept_and_its_shuffled_words_removed(korean_model):
    # Every heuristic filter passes words in a random order; only a model of the language tells. Real: 26-81;
    # threshold (the reference's 85th percentile of 16 documents): ~100; shuffled: 123 and up, junk over 1,000.
    check_held_out(korean_model, korean_split()[1], "ko", 85)


def test_held_out_english_is_kept_and_its_shuffled_words_removed(english_model):
    texts = licence_texts()
    assert len(texts) >= 40, "the pinned packages ship fewer licence texts than this test reads"
    check_held_out(english_model, texts[1::2], "en", 95)


def nltk_events(sentence: list[str], order: int):
    """Each predicted position's n-gram and its suffixes: the n-grams this model counts, given to nltk."""
    padded = [BOS] * (order - 1) + sentence + [EOS]
    for i in range(order - 1, len(padded)):
        gram = tuple(padded[i - order + 1:i + 1])
        yield from (gram[j:] for j in range(order))


def test_probabilities_match_nltk_kneser_ney():
    """nltk.lm.KneserNeyInterpolated is interpolated Kneser-Ney with one discount (0.1) at every order above the
    unigram and an undiscounted unigram; with those discounts this model gives its probabilities. The default
    modified discounts (three per order, from the counts) are Chen & Goodman's, which nltk does not implement."""
    lines = [line.split() for line in (SITE_PACKAGES / "nltk" / "lm" / "__init__.py").read_text().lower().split("\n")
             if len(line.split()) > 3][:40]
    words = sorted({w for line in lines for w in line})
    for order in (2, 3, 4):
        nltk_discount = {1: (0.0, 0.0, 0.0), **{k: (0.1, 0.1, 0.1) for k in range(2, order + 1)}}
        ours = NgramLM.train(lines, order, nltk_discount)
        ref = KneserNeyInterpolated(order, discount=0.1)
        ref.fit([list(nltk_events(line, order)) for line in lines],
                vocabulary_text=[BOS, EOS] + words)
        rng = random.Random(order)
        # seen contexts from the text, contexts never seen, and BOS-padded starts
        contexts = [tuple(([BOS] * (order - 1) + line)[i:i + order - 1]) for line in lines for i in range(3)]
        contexts += [tuple(rng.sample(words, order - 1)) for _ in range(20)] + [(BOS,) * (order - 1)]
        checked = 0
        for context, word in itertools.product(contexts[::4], words[::7] + [EOS]):
            assert prob(ours, word, context) == pytest.approx(ref.score(word, list(context)), rel=1e-9, abs=1e-15)
            checked += 1
        assert checked > 500
    # nltk's own pipeline also counts the pads' n-grams ((<s>, <s>) among the bigrams), so there <s> takes
    # unigram mass although it is never predicted; here it takes none
    train, vocab = padded_everygram_pipeline(3, lines)
    theirs = KneserNeyInterpolated(3, discount=0.1)
    theirs.fit(train, vocab)
    assert theirs.score(BOS) > 0 and prob(ours, BOS) == 0


def test_modified_kneser_ney_is_a_distribution_and_survives_its_file(tmp_path):
    lines = [line.lower().split() for line in licence_texts()[0].split("\n") if line.strip()]
    lm = NgramLM.train(lines, 4)
    assert all(0 < d[0] < 1 and 0 < d[1] < 2 and 0 < d[2] < 3 for d in lm.discounts.values())
    vocab = [t for t in lm.vocab.tokens if t != BOS]  # every word, EOS and UNK
    rng = random.Random(1)
    for line in rng.sample(lines, 20):
        i = rng.randrange(len(line))
        context = ([BOS] * 3 + line)[i:i + 3]
        assert sum(prob(lm, w, context) for w in vocab) == pytest.approx(1.0, abs=1e-9)
    assert 0 < prob(lm, "never-seen-word", ["the"]) < min(prob(lm, w) for w in vocab if w != "<unk>")
    loaded = NgramLM.load(lm.save(tmp_path / "m.npz"))
    for line in lines[:20]:
        assert loaded.perplexity(line) == pytest.approx(lm.perplexity(line), rel=1e-5)
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:  # no object arrays: nothing needs pickle
        assert all(z[k].dtype != object for k in z.files)


def test_run_accounts_for_removed_documents_with_their_perplexity(korean_model, english_model, tmp_path):
    from axk1.data.quality_filter import QualityConfig, QualityFilter

    rng = random.Random(5)
    # the longer held-out licences: a few short lines shuffled can score like real text (check_held_out's rng)
    ko, en = korean_split()[1], [t for t in licence_texts()[1::2] if len(t) >= 2000][:4]
    rows = [(f"ko{i}", t) for i, t in enumerate(ko)] + [(f"en{i}", t) for i, t in enumerate(en)]
    rows += [(f"ko_shuffled{i}", shuffled_in_lines(t, rng)) for i, t in enumerate(ko)]
    rows += [(f"en_shuffled{i}", shuffled_in_lines(t, rng)) for i, t in enumerate(en)]
    # the documents every heuristic filter passes, shuffled ones among them: what only the model can tell
    quality = QualityFilter(QualityConfig(word_tokenizer="regex", max_avg_word_length=12))
    rows = [(i, t) for i, t in rows if quality.filter(Document(t, i, metadata={"language": i[:2]})) is True]
    shuffled = sorted(i for i, _ in rows if "shuffled" in i)
    assert sum(i.startswith("ko_") for i in shuffled) >= 3 and sum(i.startswith("en_") for i in shuffled) >= 1
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n"
                                               for i, t in rows), encoding="utf-8")
    (tmp_path / "pipeline.toml").write_text(f"""
[run]
output_dir = "out"
stages = ["extract"]
tasks = 1
workers = 1
[[sources]]
type = "jsonl"
path = "in.jsonl"
[filters.quality]
word_tokenizer = "regex"
max_avg_word_length = 12
[filters.perplexity]
model = {{ko = "{korean_model}", en = "{english_model.name}"}}
percentile = {{ko = 85, en = 95}}
""", encoding="utf-8")
    (tmp_path / english_model.name).write_bytes(english_model.read_bytes())  # relative to the pipeline file
    proc = subprocess.run([sys.executable, "-m", "axk1", "data", "run", str(tmp_path / "pipeline.toml")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "out"
    acc = account(out)
    assert acc.balanced and acc.inputs == len(rows)
    removed = {r["id"]: r["metadata"] for r in iter_records(out / "excluded" / "perplexity")}
    assert sorted(removed) == shuffled
    assert all(m["filter_reason"] == "perplexity_too_high" and m["perplexity"] > m["perplexity_threshold"]
               for m in removed.values())
    assert acc.excluded == {"perplexity_too_high": len(shuffled)}
    kept = {r["id"]: r["metadata"] for r in iter_records(out / "clean")}
    assert sorted(kept) == sorted(i for i, _ in rows if "shuffled" not in i)
    assert all(m["perplexity"] > 1 for m in kept.values())


def test_settings_that_cannot_work_are_refused_before_the_run(korean_model, tmp_path):
    def check(match, **settings):
        with pytest.raises(ValueError, match=match):
            thresholds(PerplexityConfig(**settings))

    check("set one threshold", model=str(korean_model))
    check("set one threshold", model=str(korean_model), percentile=90, max_perplexity=500)
    check(r"percentile = 150.0: give a value in \(0, 100\]", model=str(korean_model), percentile=150)
    check("is a table by language: give `model` as one too", model=str(korean_model), percentile={"ko": 90})
    check("must be a number", model={"ko": str(korean_model)}, percentile={"ko": "high"})
    (tmp_path / "x.npz").write_text("not a model")
    check("is not an n-gram language model file", model=str(tmp_path / "x.npz"), percentile=90)
    with pytest.raises(FileNotFoundError, match="train one with `axk1 data lm train`"):
        thresholds(PerplexityConfig(model=str(tmp_path / "none.npz"), percentile=90))
    assert thresholds(PerplexityConfig(model={"ko": str(korean_model)}, max_perplexity={"ko": 300}))["ko"][1] == 300
    # a table of models in the file is resolved against its folder like every other path
    cfg = config_from_dict({"run": {"stages": ["extract"]}, "sources": [{"type": "text", "path": "."}],
                            "filters": {"perplexity": {"model": {"ko": "lm/ko.npz"}, "percentile": 90}}}, tmp_path)
    assert cfg.filters.perplexity.model == {"ko": str(tmp_path / "lm" / "ko.npz")}


def test_lm_train_cli_trains_from_text_files_and_refuses_bad_input(tmp_path, capsys):
    from axk1.cli import main

    files = [str(p) for p in sorted((CORPUS / "kobill").glob("*.txt"))[:6]]
    out = tmp_path / "ko.npz"

    def axk1(*args) -> tuple[int, str, str]:
        try:
            rc = main(["data", "lm", "train", *args])
        except SystemExit as e:  # argparse's refusals
            rc = e.code
        captured = capsys.readouterr()
        return rc, captured.out, captured.err

    rc, stdout, stderr = axk1(*files, "-o", str(out), "--order", "3", "--folds", "3")
    assert rc == 0, stderr
    assert "units: kiwi" in stdout and "held-out perplexity" in stdout and "reading the reference corpus" in stderr
    meta = read_meta(out)
    assert meta["units"] == "kiwi" and meta["documents"] == 6 and len(meta["reference_perplexities"]) == 6
    # a folder of text files, as `axk1 data starter` writes its statutes: it was refused as holding no JSONL
    folder = tmp_path / "statutes"
    folder.mkdir()
    for f in files:
        (folder / Path(f).name).write_bytes(Path(f).read_bytes())
    rc, _, stderr = axk1(str(folder), "-o", str(tmp_path / "folder.npz"), "--order", "3", "--folds", "3")
    assert rc == 0, stderr
    assert read_meta(tmp_path / "folder.npz")["documents"] == 6
    for args, message in [((*files, "-o", str(out)), "exists"),
                          ((*files, "-o", str(tmp_path)), "is a folder"),
                          ((str(tmp_path / "missing.txt"), "-o", str(tmp_path / "a.npz")), "does not exist"),
                          ((files[0], "-o", str(tmp_path / "b.npz"), "--folds", "3"), "at least 3"),
                          ((files[0], "-o", str(tmp_path / "c.npz"), "--order", "9"), "from 2 to 6")]:
        rc, _, stderr = axk1(*args)
        assert rc != 0 and message in stderr, (args, stderr)
