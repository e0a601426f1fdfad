"""Byte-level BPE tokenizer training (HF `tokenizers`) with a pre-tokenizer that keeps Hangul syllable runs
together, NFC inside the tokenizer (NFD input costs ~7x the tokens), A.X K1-style special tokens and a ChatML
chat template with thinking on and off. Any HF tokenizer.json (e.g. the released A.X K1 one) loads too."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator

from datatrove.pipeline.base import PipelineStep

from axk1.data.tokenizer_config import MAX_VOCAB_SIZE, MIN_VOCAB_SIZE, TokenizerConfig
from axk1.json_text import has_surrogate
from axk1.text.tokenizer_file import SPECIAL_TOKENS, TEXT_TAGS, write_tokenizer_files

# Hangul syllables/jamo stay one pre-token (with an optional leading space); Latin letters likewise; digits in
# groups of up to 3 (or fewer: `digits_per_token`) with no leading space, so that a number is spelled the same way
# wherever it stands (" 456" was `Ġ4` `5` `6` at one digit a token, "456" `4` `5` `6`; GPT-4o and DeepSeek-V3 split
# digits alone too), the space before it a token of its own; punctuation runs; whitespace. Byte-level mapping follows.
# A run of letters is cut every MAX_LETTER_RUN: BPE training time grows with the square of a pre-token's length (one
# unspaced run of 100,000 '가' took 117 s, of 50,000 'ㅋ' 33 s), and no word is that long (German law's 63-letter
# Rindfleischetikettierungsüberwachungsaufgabenübertragungsgesetz fits), so only such runs are cut, into pieces
# that merge no further than a word's would. GPT-4o's and DeepSeek-V3's patterns leave letter runs unbounded.
# Runs of punctuation, symbols (emoji among them) and whitespace are cut at the same length, for the same reason: a
# 100,000-character line of dashes took 8.8 s a document and the trainer learnt a token of 65,536 dashes; held-out
# compression was the same with the cut. Whitespace still leaves its last space to the word after it: a run of 100
# spaces before a word is 64 + 35 spaces and then " word".
MAX_LETTER_RUN = 64
MAX_RUN = MAX_LETTER_RUN


def pretokenize_pattern(digits_per_token: int = 3) -> str:
    if not 1 <= digits_per_token <= 3:
        raise ValueError(f"digits_per_token must be 1, 2 or 3, got {digits_per_token}")
    return (r" ?[\p{Hangul}]{1,%d}| ?[\p{L}&&[^\p{Hangul}]]{1,%d}|\p{N}{1,%d}| ?[^\s\p{L}\p{N}]{1,%d}"
            r"|\s{1,%d}(?!\S)|\s{1,%d}" % (MAX_LETTER_RUN, MAX_LETTER_RUN, digits_per_token, MAX_RUN, MAX_RUN, MAX_RUN))


def build_tokenizer(digits_per_token: int = 3):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pretokenize_pattern(digits_per_token)), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    return tok


def train_tokenizer(texts: Iterable[str], out_dir: str | Path, cfg: TokenizerConfig | None = None,
                    allow_empty: bool = False) -> Path:
    """Trains and writes tokenizer.json, tokenizer_config.json and chat_template.jinja into out_dir. No text at
    all is an error unless `allow_empty` (a pipeline run where every document was excluded still ends with its
    accounting, and its shard stage needs a tokenizer to open)."""
    from tokenizers import pre_tokenizers, trainers

    cfg = cfg or TokenizerConfig()
    if not MIN_VOCAB_SIZE <= cfg.vocab_size <= MAX_VOCAB_SIZE:
        raise ValueError(f"vocab_size {cfg.vocab_size} must be {MIN_VOCAB_SIZE} (256 byte tokens + "
                         f"{len(SPECIAL_TOKENS)} specials) to {MAX_VOCAB_SIZE:,} (A.X K1 uses 163,840)")
    if cfg.min_frequency < 0:
        raise ValueError(f"min_frequency {cfg.min_frequency} must be 0 or more")
    tok = build_tokenizer(cfg.digits_per_token)
    trainer = trainers.BpeTrainer(vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency,
                                  special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=_on_terminal())
    seen = [0]
    specials = re.compile("|".join(re.escape(t) for t in SPECIAL_TOKENS))

    def counted():
        for t in texts:
            seen[0] += 1
            # the reserved tokens' strings are cut out, the text on each side trained as a text of its own: left in,
            # a corpus quoting them (chat logs, tokenizer code) spent merges on `endoftext`, `<|`, `|>`, `think`,
            # strings that chat rendering and the think and tool tags encode as their reserved ids anyway
            yield from (piece for piece in specials.split(t[: cfg.max_chars_per_doc]) if piece)

    tok.train_from_iterator(counted(), trainer=trainer)
    if not seen[0] and not allow_empty:  # a tokenizer of byte tokens only, silently: almost surely the wrong input
        raise ValueError("no training text: the inputs hold no rows with a non-empty `text` string")
    return write_tokenizer_files(out_dir, _think_tags_not_special(tok.to_str(pretty=True)))


def _on_terminal() -> bool:
    """Whether the trainer's progress bars have a terminal to draw on. Without one the bars are hidden, but the
    trainer still wrote a blank line to stdout after each of its stages: three stray lines before `trained ...`
    in a log or a pipe."""
    import sys

    return sys.stdout.isatty() and sys.stderr.isatty()


def _think_tags_not_special(tokenizer_json: str) -> str:
    """The trained tokenizer with `<think>` and `</think>` as added tokens that are not special. The trainer takes
    them with the control tokens (so that they get ids below the vocabulary size, in SPECIAL_TOKENS' order) and
    marks them all special; a decode that skips special tokens (transformers' skip_special_tokens=True,
    `axk1 generate`) then dropped the tags and with them where the reasoning ends. `axk1 serve` already took them
    as text a conversation may carry (docs/serving.md)."""
    data = json.loads(tokenizer_json)
    for token in data["added_tokens"]:
        if token["content"] in TEXT_TAGS:  # the tool-call tags too (tokenizer_file.TOOL_TAGS)
            token["special"] = False
    return json.dumps(data, indent=2, ensure_ascii=False)


def encode_plain(tokenizer, texts: list[str]) -> list:
    """Encodings of document text, in which special-token strings are plain text: a web page quoting
    "<|im_end|>" must not put an end-of-turn id mid-document (and decoding gives the text back). Chat rendering,
    which needs the control tokens, encodes without this (axk1/infer/chat.py)."""
    before = tokenizer.encode_special_tokens
    tokenizer.encode_special_tokens = True
    try:
        return tokenizer.encode_batch(texts)
    finally:
        tokenizer.encode_special_tokens = before


def chars_per_token(tokenizer, texts: list[str]) -> float:
    """Characters of the text the tokenizer encodes (its NFC form: an NFD file, macOS's, has ~1.8x the characters
    for the same tokens and reported that much better compression) per token."""
    import unicodedata

    chars = sum(len(unicodedata.normalize("NFC", t)) for t in texts)
    tokens = sum(len(e.ids) for e in encode_plain(tokenizer, texts))
    return chars / max(1, tokens)


def iter_jsonl_texts(paths: list[str | Path], skipped: Counter | None = None,
                     first_at: dict[str, str] | None = None) -> Iterator[str]:
    """The `text` of every row of the data files under `paths` (stats.data_files: side files such as
    *.rejected.jsonl and the synth cache are not data). A line that is not JSON is an error naming file:line; a
    row without a non-empty `text` string, or whose text holds a lone surrogate ("\\ud800": valid JSON that no
    tokenizer can encode, which stopped training half-way; the pipeline's sources fail it as `lone_surrogate`), is
    skipped and counted in `skipped` by reason, and `first_at` keeps the first file:line of each reason."""
    from axk1.data.stats import data_files, read_jsonl_rows

    skipped = Counter() if skipped is None else skipped
    first_at = {} if first_at is None else first_at
    for p in paths:
        for where, row in read_jsonl_rows(data_files(Path(p))[0]):
            if not isinstance(row, dict):
                why = f"a JSON {type(row).__name__}, not an object"
            elif not isinstance(row.get("text"), str):
                why = "no `text` string"
            elif not row["text"]:
                why = "empty `text`"
            elif has_surrogate(row["text"]):
                why = "lone surrogate in `text` (an unpaired \\ud800-\\udfff escape)"
            else:
                yield row["text"]
                continue
            skipped[why] += 1
            first_at.setdefault(why, where)


def skipped_rows_line(skipped: Counter, first_at: dict[str, str]) -> str:
    """The skipped rows by reason, each with where the first one is: `2 empty `text` (first: a.jsonl:3), ...`."""
    return ", ".join(f"{n} {why}" + (f" (first: {first_at[why]})" if why in first_at else "")
                     for why, n in skipped.most_common())


def iter_sample_texts(paths: list[str | Path], max_bytes: int, skipped: Counter | None = None,
                      max_chars: int = TokenizerConfig.max_chars_per_doc) -> Iterator[str]:
    """Texts from the data files under `paths` taken in turn, one document from each file, until `max_bytes` of
    UTF-8 (0: all of them, file after file). A pipeline's documents/ holds one file per task, each a slice of the
    sources, so the sample spans every slice rather than the first files; a tokenizer needs a few GB of text, not a
    corpus of terabytes read on one core (days). Each text is cut to its first `max_chars` characters, as
    train_tokenizer cuts it, and the budget counts what is kept: counting whole documents trained a 10 MB budget of
    1 MB documents on 1 MB."""
    from axk1.data.stats import data_files

    if max_bytes <= 0:
        yield from (t[:max_chars] for t in iter_jsonl_texts(paths, skipped))
        return
    files = [f for p in paths for f in data_files(Path(p))[0]]
    streams = [iter_jsonl_texts([f], skipped) for f in files]
    taken = 0
    while streams and taken < max_bytes:
        alive = []
        for stream in streams:
            text = next(stream, None)
            if text is None:
                continue
            alive.append(stream)
            text = text[:max_chars]
            taken += len(text.encode("utf-8"))
            yield text
            if taken >= max_bytes:
                return
        streams = alive


def size_shortfall(size: int, cfg: TokenizerConfig) -> str | None:
    """A warning when a trained tokenizer has fewer entries than asked for, else None. BPE stops when no pair is
    left to merge, so the size asked for is a ceiling; a model's vocab_size past the real size trains embedding rows
    no token uses (a new user's 163,840 asked for gave 3,084, silently)."""
    if size >= cfg.vocab_size:
        return None
    return (f"the tokenizer has {size:,} entries, not the {cfg.vocab_size:,} asked for: the corpus is too small for "
            f"more merges (no pair left seen {cfg.min_frequency} times or more). Give it more text, or ask for less; "
            f"a model's vocab_size past {size:,} trains embedding rows no token uses (give the model this size, "
            "rounded up to a multiple of 128)")


class TokenizerTrainStep(PipelineStep):
    """A one-task pipeline stage that trains the tokenizer from the annotated documents when it does not exist
    yet, so `axk1 data run` goes from raw sources to token shards in one command."""

    name = "axk1 tokenizer train"
    type = "🔢 - TOKENIZER"

    def __init__(self, documents_dir: str, out_path: str, vocab_size: int, digits_per_token: int = 3,
                 sample_bytes: int = 0):
        super().__init__()
        self.documents_dir, self.out_path, self.vocab_size = documents_dir, out_path, vocab_size
        self.digits_per_token, self.sample_bytes = digits_per_token, sample_bytes

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        out = Path(self.out_path)
        folder = out.parent if out.suffix == ".json" else out
        if not (folder / "tokenizer.json").exists():
            cfg = TokenizerConfig(vocab_size=self.vocab_size, digits_per_token=self.digits_per_token)
            texts = iter_sample_texts([Path(self.documents_dir)], self.sample_bytes, max_chars=cfg.max_chars_per_doc)
            path = train_tokenizer(texts, folder, cfg, allow_empty=True)
            from axk1.text.tokenizer_file import load_tokenizer

            warning = size_shortfall(load_tokenizer(path).get_vocab_size(with_added_tokens=True), cfg)
            if warning:  # in the run's log and on the terminal (`axk1 train` notes a model sized past it again)
                from datatrove.utils.logging import logger

                logger.warning(f"{self.name}: {warning}")
        return
        yield
