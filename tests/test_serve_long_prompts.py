"""Long prompts against `axk1 serve`: one that cannot fit the context is refused from its size, untokenized
(axk1/infer/prompt_bound.py), and a short request never queues behind long ones (axk1/infer/offload.py). A probe
with the openai client sent 12 prompts of ~960 KB at once: each was tokenized in full (18 s for 6) before its 400,
all in the event loop's one shared pool, and a 3-token request waited 50 s behind them."""

from __future__ import annotations

import os
import threading
import unicodedata

import pytest

from axk1.infer.offload import LARGE_BYTES
from axk1.infer.prompt_bound import PromptBound
from axk1.infer.protocol import APIError
from axk1.infer.engine_config import EngineConfig, ServeConfig
from tests.serve_helpers import CORPUS, app_server, make_model_folder, post_json, train_tokenizer


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_model_folder(tmp_path_factory.mktemp("long") / "axk1-tiny")


def _refused(bound: PromptBound, text: str) -> bool:
    try:
        bound.check(text, "prompt")
    except APIError as e:
        assert e.status == 400 and e.param == "prompt" and "Shorten the prompt" in e.message
        return True
    return False


def test_the_bound_refuses_only_prompts_that_cannot_fit():
    tokenizer = train_tokenizer(512)  # the serving tests' byte-level BPE
    context = 64
    bound = PromptBound.for_tokenizer(tokenizer, context)
    assert bound is not None and bound.token_bytes >= len("<|endoftext|>")  # added tokens count as their text
    room = bound.token_bytes * (context - 1)
    for text in ["a b " * 10_000, "Seoul " * 5000, "<|im_end|>" * 300, "서울" * 2000, "x" * (room + 1)]:
        n_tokens = len(tokenizer.encode(text).ids)
        assert _refused(bound, text) == (len(text.encode()) > room)
        if _refused(bound, text):  # what the bound promises: the engine would have refused it after tokenizing
            assert n_tokens >= context, (text[:20], n_tokens)
    assert not _refused(bound, "x" * room)


def test_a_normalizer_that_shrinks_the_text_is_measured_after_it():
    """axk1's own tokenizer is NFC-normalized: decomposed Hangul (3 jamo, 9 bytes) is one syllable (3 bytes), so
    the raw bytes overstate what is tokenized and would refuse prompts that fit."""
    from tokenizers import pre_tokenizers, trainers

    from axk1.data.tokenizer import build_tokenizer

    tokenizer = build_tokenizer()
    tokenizer.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    context = 128
    bound = PromptBound.for_tokenizer(tokenizer, context)
    assert bound is not None
    syllables = "한" * (bound.token_bytes * (context - 1) // 3)  # fits the bound once composed
    decomposed = unicodedata.normalize("NFD", syllables)
    assert len(decomposed.encode()) == 3 * len(syllables.encode())
    assert not _refused(bound, decomposed) and not _refused(bound, syllables)
    assert _refused(bound, decomposed + "한" * (bound.token_bytes // 3 + 1))


def test_tokenizers_the_bound_does_not_hold_for_get_none():
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers

    whitespace = Tokenizer(models.BPE())  # its pre-tokenizer drops the spaces: "a b " * n is n * 2 tokens
    whitespace.pre_tokenizer = pre_tokenizers.Whitespace()
    assert PromptBound.for_tokenizer(whitespace, 64) is None
    wordpiece = Tokenizer(models.WordPiece({"[UNK]": 0}, unk_token="[UNK]"))  # a long word is one [UNK]
    assert PromptBound.for_tokenizer(wordpiece, 64) is None
    stripping = train_tokenizer(512)  # a token that takes the spaces beside it: "   ...   <mask>" is one token
    stripping.add_special_tokens([AddedToken("<mask>", lstrip=True)])
    assert PromptBound.for_tokenizer(stripping, 64) is None


def _post(port: int, path: str, body: dict) -> tuple[int, dict]:
    return post_json(f"http://127.0.0.1:{port}{path}", body, timeout=120)


def test_a_short_request_does_not_queue_behind_long_ones(folder):
    """Long /tokenize requests (tokenized in full, however long) held in the tokenizer, more of them than asyncio's
    default pool has threads (min(32, cores + 4)): a short completion still answers while they are all held."""
    from axk1.infer.cli import build_server

    app, engine = build_server(ServeConfig(folder, EngineConfig(max_batch=2)))
    gate, entered = threading.Event(), threading.Semaphore(0)

    class Gated:  # the tokenizer, holding every long text until the gate opens
        def __init__(self, tokenizer):
            self.tokenizer = tokenizer

        def __getattr__(self, name):
            return getattr(self.tokenizer, name)

        def encode_batch(self, texts, **kwargs):
            if len(texts[0]) > LARGE_BYTES:
                entered.release()
                gate.wait()
            return self.tokenizer.encode_batch(texts, **kwargs)

    app.state.axk1.codec.tokenizer = Gated(app.state.axk1.codec.tokenizer)
    long_ones: list[int] = []
    try:
        with app_server(app) as port:
            def send_long() -> None:
                long_ones.append(_post(port, "/tokenize", {"prompt": "Seoul is " * 20_000})[0])

            threads = [threading.Thread(target=send_long) for _ in range(min(32, (os.cpu_count() or 1) + 4) + 2)]
            for t in threads:
                t.start()
            watchdog = threading.Timer(90, gate.set)  # only against a hang: the short one must answer before it
            watchdog.start()
            try:
                assert entered.acquire(timeout=60), "no long request reached the tokenizer"
                status, reply = _post(port, "/v1/completions", {"prompt": "hi", "max_tokens": 1})
                held = not gate.is_set()
            finally:
                gate.set()
                watchdog.cancel()
                for t in threads:
                    t.join(timeout=120)
    finally:
        engine.stop()
    assert status == 200 and reply["usage"]["completion_tokens"] == 1, reply
    assert held, "the short request answered only once the long ones were let go"
    assert long_ones == [200] * len(threads)
