"""The pre-tokenizer a trained tokenizer splits text with (axk1/data/tokenizer.py::pretokenize_pattern): long letter,
punctuation, emoji and whitespace runs cut into word-sized pieces, digits never with a leading space, and a tokenizer file written before keeping the
pattern stored in it."""

import json

import pytest

from axk1.data.tokenizer import MAX_LETTER_RUN, MAX_RUN, TokenizerConfig, build_tokenizer, train_tokenizer
from axk1.text.tokenizer_file import load_tokenizer


def _pieces(text, digits_per_token=3, tok=None):
    """The pre-tokens of `text` as text (the byte-level mapping undone)."""
    tok = tok or build_tokenizer(digits_per_token)
    return [text[a:b] for _, (a, b) in tok.pre_tokenizer.pre_tokenize_str(text)]


@pytest.mark.parametrize("letter", ["가", "ㅋ", "a", "é"])
def test_a_long_unspaced_run_of_letters_is_cut_into_word_sized_pieces(letter):
    """One run was one pre-token, whose BPE training time grows with the square of its length (100,000 '가': 117 s)."""
    pieces = _pieces(" " + letter * 1000 + " end")
    assert "".join(pieces) == " " + letter * 1000 + " end"
    assert max(len(p.strip()) for p in pieces) == MAX_LETTER_RUN
    assert pieces[-1] == " end"


@pytest.mark.parametrize("run", ["-", "=", "😀", "…", " ", "\n", "\t "])
def test_a_long_run_of_punctuation_symbols_or_whitespace_is_cut_too(run):
    """These runs were unbounded: a 100,000-character line of dashes took 8.8 s a document to train, and the trainer
    learnt a token of 65,536 dashes (and one of 90,112 whitespace characters)."""
    text = "a" + run * 1000 + "b"
    pieces = _pieces(text)
    assert "".join(pieces) == text
    assert max(len(p) for p in pieces) <= MAX_RUN + 1  # 64 and at most the leading space
    assert len(pieces) > 3


def test_a_cut_run_of_spaces_still_leaves_its_last_space_to_the_next_word():
    assert _pieces("a" + " " * 100 + "word") == ["a", " " * MAX_RUN, " " * (99 - MAX_RUN), " word"]
    assert _pieces("a" + " " * 10 + "word") == ["a", " " * 9, " word"]
    assert _pieces("x" + "-" * 100 + " y") == ["x", "-" * MAX_RUN, "-" * (100 - MAX_RUN), " y"]
    assert _pieces("end   \n") == ["end", "   \n"]


def test_training_learns_no_token_longer_than_a_cut_run(tmp_path):
    """Round trip intact, and no learnt token past 64 characters of one kind (with the old pattern: 512 and more)."""
    texts = ["intro " + "-" * 3000 + " 본문 " + " " * 3000 + "끝 " + "😀" * 1000 + " done"] * 4
    path = train_tokenizer(texts, tmp_path, TokenizerConfig(vocab_size=400))
    tok = load_tokenizer(path)
    vocab = json.loads(path.read_text())["model"]["vocab"]
    longest = max(len(tok.decode([i])) for i in vocab.values())
    assert longest <= MAX_RUN + 1, longest
    assert all(tok.decode(tok.encode(t).ids) == t for t in texts)


def test_words_and_eojeol_of_real_text_stay_whole():
    text = ("대한민국의 수도는 서울특별시입니다. Rindfleischetikettierungsüberwachungsaufgabenübertragungsgesetz "
            "대한민국의수도는서울특별시입니다아버지가방에들어가신다")
    assert _pieces(text) == ["대한민국의", " 수도는", " 서울특별시입니다", ".",
                             " Rindfleischetikettierungsüberwachungsaufgabenübertragungsgesetz",
                             " 대한민국의수도는서울특별시입니다아버지가방에들어가신다"]


@pytest.mark.parametrize("digits_per_token", [1, 3])
def test_digits_never_carry_a_leading_space(digits_per_token):
    """With one digit a token, "123 + 456" gave `4` a leading space and `1` none: the same digit two ways, against
    the setting's promise (every number spelled the same way every time). DeepSeek-V3 and GPT-4o split digits
    alone too."""
    pieces = _pieces("123 + 456 7", digits_per_token)
    numbers = [p for p in pieces if any(c.isdigit() for c in p)]
    assert all(p.isdigit() for p in numbers), pieces
    assert "".join(numbers) == "1234567"
    if digits_per_token == 1:
        assert numbers == list("1234567")


def test_a_tokenizer_file_keeps_the_pattern_stored_in_it(tmp_path, monkeypatch):
    """A tokenizer trained before these changes splits as it was trained to: the pattern is read from its
    tokenizer.json, never rebuilt from the code's."""
    import axk1.data.tokenizer as tokenizer

    earlier = r" ?[\p{Hangul}]+| ?[\p{L}&&[^\p{Hangul}]]+| ?\p{N}{1,3}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
    monkeypatch.setattr(tokenizer, "pretokenize_pattern", lambda digits_per_token=3: earlier)
    train_tokenizer(["hello world 123 + 456 " + "가" * 100] * 20, tmp_path, TokenizerConfig(vocab_size=300))
    monkeypatch.undo()
    stored = json.loads((tmp_path / "tokenizer.json").read_text())["pre_tokenizer"]["pretokenizers"][0]
    assert stored["pattern"]["Regex"] == earlier
    tok = load_tokenizer(tmp_path / "tokenizer.json")
    assert _pieces(" 456 " + "가" * 100, tok=tok) == [" 456", " " + "가" * 100]
