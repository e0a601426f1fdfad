"""What a chat row says about its own training, read as the formats it comes from mean it: OpenAI's per-turn
`weight`, other reasoning conventions (OpenThoughts' `<|begin_of_thought|>`), rows that differ only in their
tools, and the report's count of turns per mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from axk1.infer.chat import ChatCodec
from axk1.posttrain.chat_data import load_chat_examples
from tests.serve_helpers import make_model_folder


@pytest.fixture(scope="module")
def codec(tmp_path_factory) -> ChatCodec:
    return ChatCodec.from_folder(make_model_folder(tmp_path_factory.mktemp("rows") / "base"))


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _trained(codec: ChatCodec, examples) -> list[str]:
    return [codec.tokenizer.decode(e.ids[e.n_prompt:].tolist(), skip_special_tokens=False) for e in examples]


def _weighted(first, second=1) -> dict:
    return {"messages": [{"role": "user", "content": "Capital of France?"},
                         {"role": "assistant", "content": "London.", "weight": first},
                         {"role": "user", "content": "Are you sure?"},
                         {"role": "assistant", "content": "Sorry, it is Paris.", "weight": second}]}


def test_openai_weight_0_keeps_a_turn_as_context_untrained_and_counts_it(codec, tmp_path):
    """OpenAI's fine-tuning rows (and axolotl's) mark a turn not to learn with "weight": 0; it was trained."""
    path = _jsonl(tmp_path / "w.jsonl", [_weighted(0), _weighted(False, True), _weighted(1)])
    examples, report = load_chat_examples([path], codec, "keep", 512)
    trained = _trained(codec, examples)
    assert trained.count("London.<|im_end|>") == 1  # only the third row's, weight 1
    assert trained.count("Sorry, it is Paris.<|im_end|>") == 3
    assert "London." in codec.tokenizer.decode(examples[0].ids[:examples[0].n_prompt].tolist())  # still context
    assert dict(report.turns_excluded) == {"weight 0": 2} and report.examples == 4
    assert "turns left out of kept rows: 2 weight 0" in report.summary()
    assert report.to_dict()["turns_excluded"] == {"weight 0": 2}


def test_a_row_with_every_turn_weight_0_or_another_weight_is_excluded_with_a_reason(codec, tmp_path):
    path = _jsonl(tmp_path / "w.jsonl", [_weighted(0, 0), _weighted(0.5), _weighted(1, "1"), _weighted(2, 1)])
    examples, report = load_chat_examples([path], codec, "keep", 512)
    assert examples == [] and dict(report.excluded) == {"weight 0": 1, "bad weight": 3}
    assert "takes 0 (the turn stays as context, untrained) or 1" in report.detail["bad weight"]
