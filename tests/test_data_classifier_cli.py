"""`axk1 data classifier`: the domain classifier [annotate] domain_model reads, trained from labelled JSONL (before
it, only a Python function nothing called made one), then used by a pipeline run for what the rules leave open."""

import json
import random
import re

import pytest
from datatrove.data import Document

from axk1.cli import main
from axk1.data.classify import DomainClassifier, label_domain
from axk1.data.stats import iter_records
from tests.data_helpers import predict

# two kinds of plain Korean prose that none of the domain rules is sure of (no markers: the classifier decides)
PETS = "고양이 강아지 산책 공원 사료 간식 털 발톱 목줄 꼬리 낮잠 장난감 동물병원 예방접종".split()
MONEY = "주식 시장 금리 환율 채권 예금 적금 대출 이자 배당 투자 자산 펀드 연금 보험료".split()


def prose(words: list[str], rng: random.Random) -> str:
    return " ".join(" ".join(rng.choice(words) for _ in range(8)) + "에 관한 글입니다." for _ in range(6))


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_a_classifier_trained_by_the_verb_labels_a_pipeline_run(tmp_path, capsys):
    rng = random.Random(0)
    labelled = write_jsonl(tmp_path / "labelled.jsonl",
                           [{"text": prose(PETS, rng), "domain": "books"} for _ in range(6)]
                           + [{"text": prose(MONEY, rng), "metadata": {"domain": "qa"}} for _ in range(6)]
                           + [{"text": prose(PETS, rng)}])  # no label: counted, not trained on
    model = tmp_path / "models" / "domains.npz"
    assert main(["data", "classifier", str(labelled), "-o", str(model)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"labels": {"books": 6, "qa": 6}, "unlabelled": 1}
    assert "1 records had no 'domain' label" in err and f'domain_model = "{model}"' in err
    unseen = [prose(PETS, random.Random(1)), prose(MONEY, random.Random(2))]
    assert [label_domain(Document(t, "x"))[:2] for t in unseen] == [("web", "rules")] * 2  # the rules' guess

    (tmp_path / "in").mkdir()
    corpus = write_jsonl(tmp_path / "in" / "docs.jsonl", [{"id": f"d{i}", "text": t} for i, t in enumerate(unseen)])
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text(f"""
[run]
output_dir = "out"
stages = ["extract", "annotate"]
tasks = 1
workers = 1
[[sources]]
type = "jsonl"
path = "{corpus}"
filter = false
[annotate]
domain_model = "models/domains.npz"
""")
    assert main(["data", "run", str(pipeline)]) == 0
    docs = {d["id"]: d["metadata"] for d in iter_records(tmp_path / "out" / "documents")}
    assert {k: (m["domain"], m["domain_source"]) for k, m in docs.items()} == {"d0": ("books", "classifier"),
                                                                            "d1": ("qa", "classifier")}


def test_bad_labels_and_an_existing_model_are_refused_by_name(tmp_path, capsys):
    rows = [{"text": "가나다 라마바", "domain": "books"}, {"text": "사아자 차카타", "domain": "poetry"}]
    labelled = write_jsonl(tmp_path / "l.jsonl", rows)
    assert main(["data", "classifier", str(labelled), "-o", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err
    assert "l.jsonl:2: domain 'poetry' is not a domain; use one of web, code," in err and "Traceback" not in err
    assert not (tmp_path / "m.npz").exists()
    write_jsonl(labelled, rows[:1])
    assert main(["data", "classifier", str(labelled), "-o", str(tmp_path / "m.npz")]) == 0
    assert main(["data", "classifier", str(labelled), "-o", str(tmp_path / "m.npz")]) == 2
    assert "m.npz exists: give another -o, or --force to replace it" in capsys.readouterr().err
    assert main(["data", "classifier", str(labelled), "-o", str(tmp_path / "m.npz"), "--force"]) == 0
    assert predict(DomainClassifier.load(tmp_path / "m.npz"), "가나다") == "books"
    (tmp_path / "not.npz").write_text("not a model")
    with pytest.raises(ValueError, match=r"not\.npz is not a domain classifier .*`axk1 data classifier` writes"):
        DomainClassifier.load(tmp_path / "not.npz")


def test_a_file_that_is_not_utf8_or_not_gzip_is_named_with_its_line(tmp_path, capsys):
    """A Latin-1 line printed only "'utf-8' codec can't decode byte 0xe9 in position 12", a damaged .gz only
    "Not a gzipped file (b'no')": neither said which file, nor which line."""
    import gzip

    good = json.dumps({"text": "가나다 라마바", "domain": "books"}, ensure_ascii=False) + "\n"
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes(good.encode() + '{"text": "caf\u00e9", "domain": "books"}\n'.encode("latin-1"))
    assert main(["data", "classifier", str(latin1), "-o", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err
    assert f"{latin1}:2: not a JSON line (not UTF-8 text (byte 13)); fix or remove that line" in err
    assert "Traceback" not in err

    not_gz = tmp_path / "not.jsonl.gz"
    not_gz.write_bytes(b"not gzip at all\n")
    cut = tmp_path / "cut.jsonl.gz"
    whole = gzip.compress((good * 200).encode())
    cut.write_bytes(whole[:len(whole) - 12])  # its end (and the trailer) lost
    for path, where in [(not_gz, ""), (cut, r" after line \d+")]:
        assert main(["data", "classifier", str(path), "-o", str(tmp_path / "m.npz")]) == 2
        err = capsys.readouterr().err
        assert re.search(f"{re.escape(str(path))} is a gzip stream that is cut short or damaged{where} \\(.+\\): "
                         "compress it again", err)
        assert "Traceback" not in err
    assert not (tmp_path / "m.npz").exists()
