"""The starter's Korean PDFs reach the corpus, and a source the filters remove entirely is named in the summary.

Each starter PDF was ten paragraphs of korean_paragraph's few sentence shapes, whose 5-grams repeated past the
starter recipe's dup_5_gram threshold (0.31 to 0.33 of the characters against 0.201): all three were excluded, and
the run's summary said only "dup_5_gram 4" among the other sources' removals."""

import json
from pathlib import Path

from axk1.data.config import config_from_dict, load_pipeline_config
from axk1.data.pipeline import run_pipeline
from axk1.data.starter import build_starter_corpus
from axk1.data.stats import account, corpus_stats, summary_text

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "data" / "starter.toml"


def test_the_starters_pdfs_pass_its_recipes_filters_into_the_documents(tmp_path):
    counts = build_starter_corpus(tmp_path / "starter", scale=1)
    cfg = load_pipeline_config(RECIPE, ["--run.output_dir", str(tmp_path / "data"), "--run.tasks", "1",
                                        "--run.workers", "1", "--run.start_method", "fork",
                                        "--tokenize.tokenizer", str(tmp_path / "tok"),
                                        "--sources.4.path", str(tmp_path / "starter" / "pdf")])
    # the PDFs alone through the recipe's own extraction, filters and deduplication (the other sources' text takes
    # most of a whole starter run's two minutes, the tokenizer's training the rest)
    cfg.sources = [s for s in cfg.sources if s.type == "pdf"]
    cfg.run.stages = ["extract", "dedup", "annotate"]
    run_pipeline(cfg, progress=False)
    acc = account(cfg.out)
    assert acc.excluded == {} and acc.failed == {}, summary_text(acc)
    assert corpus_stats(cfg.out)["sources"] == {"pdf": counts["pdfs"]}


def test_a_source_whose_every_document_is_excluded_is_named_in_the_summary(tmp_path):
    root = tmp_path / "in"
    (root / "notes").mkdir(parents=True)
    (root / "prose").mkdir()
    (root / "notes" / "n.jsonl").write_text("".join(json.dumps({"text": f"짧은 메모 {i}."}, ensure_ascii=False) + "\n"
                                                    for i in range(3)), encoding="utf-8")
    prose = ("도서관은 주말마다 어린이를 위한 책 읽기 모임을 연다. 참가자들은 한 권씩 골라 서로에게 줄거리를 "
             "들려주고, 사서는 다음 주에 읽을 책을 함께 정한다. 모임이 끝나면 아이들은 그림을 그려 벽에 붙인다. ")
    (root / "prose" / "p.jsonl").write_text(json.dumps({"text": prose * 2}, ensure_ascii=False) + "\n",
                                            encoding="utf-8")
    cfg = config_from_dict({"run": {"output_dir": str(tmp_path / "out"), "stages": ["extract"], "tasks": 1,
                                    "workers": 1, "start_method": "fork"},
                            "sources": [{"type": "jsonl", "path": str(root / "notes"), "name": "notes"},
                                        {"type": "jsonl", "path": str(root / "prose"), "name": "prose"}],
                            "filters": {"quality": {"word_tokenizer": "regex", "max_avg_word_length": 12,
                                                    "min_words": 30, "dup_n_grams": {}, "top_n_grams": {}}}})
    run_pipeline(cfg, progress=False)
    acc = account(cfg.out)
    assert acc.kept == 1 and acc.excluded == {"too_few_words": 3}, summary_text(acc)
    assert list(acc.wholly_excluded()) == ["notes"]
    text = summary_text(acc)
    assert "source 'notes': none of its documents was kept (3 excluded, 3 of them as too_few_words)" in text
    assert "source 'prose'" not in text
