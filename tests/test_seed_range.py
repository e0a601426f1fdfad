"""One seed range (axk1/sampling_ranges.py SEED_RANGE) for `axk1 generate --seed`, `axk1 serve`'s request `seed`
and the serving engine: generate took seeds up to 2**64 - 1 and the server only below 2**63, so a reply made with
`axk1 generate --seed 10000000000000000000` could not be asked of `axk1 serve` (a 422)."""

import argparse

import pytest
import torch
from pydantic import ValidationError

import axk1
from axk1.cli_args import sampling_seed
from axk1.infer.engine import Engine, SamplingParams
from axk1.infer.engine_config import EngineConfig
from axk1.infer.schema import ChatRequest, CompletionRequest

EDGES = (-(2**63) - 1, -(2**63), 0, 2**63 - 1, 2**63, 2**64 - 1, 2**64)


@pytest.fixture(scope="module")
def engine():
    torch.manual_seed(0)
    model = axk1.AXK1ForCausalLM(axk1.ModelConfig.from_preset("axk1-tiny")).eval()
    return Engine(model, EngineConfig(max_batch=4, max_model_len=32))


def _accepts(check) -> bool:
    try:
        check()
    except (argparse.ArgumentTypeError, ValidationError, ValueError):
        return False
    return True


@pytest.mark.parametrize("seed", EDGES)
def test_generate_serve_and_the_engine_take_the_same_seeds(seed, engine):
    taken = {
        "axk1 generate --seed": _accepts(lambda: sampling_seed(str(seed))),
        "/v1/chat/completions": _accepts(lambda: ChatRequest.model_validate(
            {"messages": [{"role": "user", "content": "hi"}], "seed": seed})),
        "/v1/completions": _accepts(lambda: CompletionRequest.model_validate({"prompt": "hi", "seed": seed, "n": 4})),
        "the engine (n = 4)": _accepts(lambda: engine.check_request([1, 2], SamplingParams(max_tokens=2, seed=seed),
                                                                    4)),
    }
    assert set(taken.values()) == {-(2**63) <= seed < 2**63}, taken  # int64, as OpenAI and vLLM take it


def test_a_seed_out_of_range_names_the_range(engine):
    with pytest.raises(argparse.ArgumentTypeError, match=r"^9223372036854775808 must be from -2\*\*63 to 2\*\*63 - 1 "
                                                         r"\(a signed 64-bit integer\)$"):
        sampling_seed(str(2**63))
    with pytest.raises(ValueError, match=r"^seed must be from -2\*\*63 to 2\*\*63 - 1 \(a signed 64-bit integer\), "
                                         r"got 9223372036854775808$"):
        engine.check_request([1, 2], SamplingParams(max_tokens=2, seed=2**63), 1)
