"""One writer of a tokenizer folder (axk1/text/tokenizer_file.py): the data pipeline's trained tokenizer and the
models the tests and benchmarks build come out the same, as transformers reads them."""

import json

from axk1.data.tokenizer import train_tokenizer
from axk1.data.tokenizer_config import TokenizerConfig
from axk1.text.chat_template import CHAT_TEMPLATE
from axk1.text.tokenizer_file import BOS, EOS, MODEL_MAX_LENGTH, PAD, write_tokenizer_files
from tests.serve_helpers import train_tokenizer as small_tokenizer

TEXTS = ["안녕하세요 세계", "hello world 123", "def f(x):\n    return x"] * 20


def test_the_pipeline_and_the_test_models_write_the_same_tokenizer_folder(tmp_path):
    from transformers import AutoTokenizer

    train_tokenizer(TEXTS, tmp_path / "trained", TokenizerConfig(vocab_size=512))
    write_tokenizer_files(tmp_path / "small", small_tokenizer(512).to_str())
    configs = [json.loads((tmp_path / name / "tokenizer_config.json").read_text()) for name in ("trained", "small")]
    assert configs[0] == configs[1]
    assert configs[0]["model_max_length"] == MODEL_MAX_LENGTH
    for name in ("trained", "small"):
        assert (tmp_path / name / "chat_template.jinja").read_text() == CHAT_TEMPLATE
        tok = AutoTokenizer.from_pretrained(str(tmp_path / name))  # the peer library's reading of the folder
        assert (tok.bos_token, tok.eos_token, tok.pad_token) == (BOS, EOS, PAD)
        assert tok.model_max_length == MODEL_MAX_LENGTH

