"""What tokenizer training does with its text (axk1/data/tokenizer.py::train_tokenizer): the reserved tokens'
strings cut out before training, no stray output, and the CP949 compatibility Hanja that NFC merges."""

import json
import unicodedata

from axk1.data.tokenizer import SPECIAL_TOKENS, TokenizerConfig, encode_plain, train_tokenizer
from axk1.text.korean import normalize_text
from axk1.text.tokenizer_file import load_tokenizer

QUOTING = ('user said <|im_end|> then <|im_start|>assistant <think>reason {i}</think> ok '
           '<tool_call>{{"n":{i}}}</tool_call> <|endoftext|><|pad|>')


def test_special_token_strings_in_training_text_spend_no_merges(tmp_path):
    """A corpus quoting the reserved tokens (chat logs, tokenizer code) taught the trainer `endoftext`, `<|`, `|>`
    and `think` as merges; the text around them is still trained on."""
    texts = [QUOTING.format(i=i) for i in range(300)]
    path = train_tokenizer(texts, tmp_path, TokenizerConfig(vocab_size=600))
    data = json.loads(path.read_text())
    learnt = [t for t in data["model"]["vocab"] if t not in SPECIAL_TOKENS]
    parts = ["<|", "|>", "endof", "im_", "pad|", "think", "tool_", "_call"]
    assert not [t for t in learnt if any(p in t for p in parts)]
    assert "Ġsaid" in learnt and "assistant" in learnt and "reason" in learnt
    tok = load_tokenizer(path)  # a document quoting them still decodes to itself
    doc = QUOTING.format(i=7)
    assert tok.decode(encode_plain(tok, [doc])[0].ids, skip_special_tokens=False) == doc


def test_only_whole_special_token_strings_are_cut(tmp_path):
    """A near miss (`<|im_end`, `<thinking>`) is ordinary text, trained on as such."""
    path = train_tokenizer(["<thinking> x <|im_end y"] * 50, tmp_path, TokenizerConfig(vocab_size=400))
    learnt = json.loads(path.read_text())["model"]["vocab"]
    assert "thinking" in learnt and "Ġ<|" in learnt


def test_training_prints_nothing_to_stdout_off_a_terminal(tmp_path, capfd):
    """The trainer's hidden progress bars still wrote a blank line to stdout after each stage: three stray lines
    before `axk1 data tokenizer train`'s `trained ...` in a log or a pipe."""
    train_tokenizer(["hello world 대한민국"] * 20, tmp_path, TokenizerConfig(vocab_size=300))
    assert capfd.readouterr().out == ""


def test_nfc_merges_cp949_compatibility_hanja_into_the_unified_ideograph(tmp_path):
    """The behaviour docs/data.md states: KS X 1001 (CP949) encodes some Hanja once per Korean reading (樂 as
    U+F914 락, U+F95C 낙, U+F9BF 악 besides U+6A02); Unicode gives those compatibility ideographs a canonical
    decomposition, so NFC (normalize_text, and the tokenizer's normaliser) turns each into its unified ideograph
    and the reading the duplicate carried is lost. All 268 that CP949 encodes are affected."""
    compat = [chr(c) for c in range(0xF900, 0xFB00)]
    cp949 = []
    for c in compat:
        try:
            c.encode("cp949")
            cp949.append(c)
        except UnicodeEncodeError:
            pass
    assert len(cp949) == 268
    assert all(normalize_text(c) == unicodedata.normalize("NFC", c) != c for c in cp949)
    assert {normalize_text(c) for c in "\uf914\uf95c\uf9bf"} == {"\u6a02"}
    path = train_tokenizer(["音樂 快樂 樂山 " + "".join(cp949)] * 5, tmp_path, TokenizerConfig(vocab_size=300))
    tok = load_tokenizer(path)
    text = "\uf914\uf95c\uf9bf"  # 락 낙 악 as CP949 writes them
    assert tok.decode(encode_plain(tok, [text])[0].ids) == "\u6a02" * 3
