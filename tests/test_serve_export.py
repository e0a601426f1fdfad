"""An exported axk1 folder is what transformers and vLLM's A.X K1 support read."""

import json

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from axk1.infer.chat import ChatCodec
from tests.vllm_folder import check_vllm_folder
from tests.serve_helpers import make_model_folder


def test_exported_folder_loads_in_transformers_like_axk1_serve_reads_it(tmp_path):
    folder = make_model_folder(tmp_path / "export")
    assert check_vllm_folder(folder) == []
    config = AutoConfig.from_pretrained(folder)
    assert config.model_type == "axk1" and config.architectures == ["AXK1ForCausalLM"]
    model, info = AutoModelForCausalLM.from_pretrained(folder, output_loading_info=True)
    assert type(model).__name__ == "AXK1ForCausalLM"
    assert info["missing_keys"] == set() and info["unexpected_keys"] == set()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    codec = ChatCodec.from_folder(folder)
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.eos_token_id == config.eos_token_id == 2
    messages = [{"role": "system", "content": "간단히 답하세요."}, {"role": "user", "content": "서울은?"}]
    for thinking in (True, False):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                             enable_thinking=thinking)
        assert text == codec.render(messages, enable_thinking=thinking)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ids == codec.encode(text, add_special_tokens=False)
    # The model transformers loaded answers the served prompt (one greedy step on the same weights).
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits
    assert logits.shape == (1, len(ids), config.vocab_size)
    assert tokenizer.convert_ids_to_tokens(codec.encode("<think></think>", add_special_tokens=False)) == ["<think>", "</think>"]


def test_check_vllm_folder_names_what_is_wrong(tmp_path):
    folder = make_model_folder(tmp_path / "bad", with_tokenizer=False)
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["DeepseekV3ForCausalLM"]
    (folder / "config.json").write_text(json.dumps(config))
    problems = check_vllm_folder(folder)
    assert any("architectures" in p for p in problems)
    assert any("tokenizer.json is missing" in p for p in problems)


def test_a_damaged_index_or_tokenizer_config_is_a_problem_not_a_traceback(tmp_path):
    """check_vllm_folder returns its problems as a list; a cut index or tokenizer_config.json raised JSONDecodeError
    (or RecursionError) out of it instead."""
    folder = make_model_folder(tmp_path / "m")
    assert check_vllm_folder(folder) == []
    index, tokenizer_config = folder / "model.safetensors.index.json", folder / "tokenizer_config.json"
    index.write_text('{"weight_map": {"model.embed_tokens.weight": "model-00001')  # a copy cut short
    tokenizer_config.write_text("[" * 100_000)  # nested past the interpreter's stack
    assert check_vllm_folder(folder) == [
        f"safetensors index {index} is not valid JSON (Unterminated string starting at column 46): fix it or "
        "re-export the folder",
        f"{tokenizer_config} is not valid JSON (nested too deep): fix it or re-export the folder"]
    index.write_text('{"weight_map": ["model.embed_tokens.weight"]}')
    assert f"safetensors index {index} has no \"weight_map\" object" in check_vllm_folder(folder)[0]
