"""Tokenizer training, chat template, token shards and manifest."""

import json
import random
import unicodedata

import numpy as np
import pytest
from datatrove.data import Document

from axk1.data.mathgen import generate_problems
from axk1.data.shards import TokenShardWriter, bucket_name, write_corpus_manifest
from axk1.data.textgen import english_document, korean_document
from axk1.data.tokenizer import SPECIAL_TOKENS, TokenizerConfig, chars_per_token, train_tokenizer
from axk1.text.chat_template import CHAT_TEMPLATE, render_template
from axk1.text.tokenizer_file import load_tokenizer
from axk1.train.data import load_shards

def render_chat(messages: list[dict], enable_thinking: bool = True) -> str:
    """A generation prompt rendered with axk1's chat template, as transformers applies it."""
    return render_template(CHAT_TEMPLATE, {"messages": messages, "add_generation_prompt": True,
                                           "enable_thinking": enable_thinking})


CODE = "def add(a, b):\n    return a + b\n\n\nfor i in range(10):\n    print(add(i, i))\n"


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    rng = random.Random(0)
    texts = [korean_document(rng, 2, 5) for _ in range(150)] + [english_document(rng, 2, 5) for _ in range(60)]
    texts += [CODE] * 20
    out = tmp_path_factory.mktemp("tok")
    train_tokenizer(texts, out, TokenizerConfig(vocab_size=3000))
    return out


def test_tokenizer_specials_roundtrip_and_hangul(tok_dir):
    tok = load_tokenizer(tok_dir)
    assert tok.get_vocab_size() <= 3000
    for s in SPECIAL_TOKENS:
        assert tok.token_to_id(s) is not None
    text = "한국어 말뭉치를 처리합니다. Hello world! x = 1 + 2 😀"
    enc = tok.encode(text)
    assert tok.decode(enc.ids) == text
    # NFC inside the tokenizer: NFD input gives the same tokens
    assert tok.encode(unicodedata.normalize("NFD", text)).ids == enc.ids
    # pre-tokenization never splits a Hangul run and never joins Hangul with Latin
    pre = tok.pre_tokenizer.pre_tokenize_str("말뭉치를abc 처리")
    pieces = [text[a:b] for _, (a, b) in pre for text in ["말뭉치를abc 처리"]]
    assert pieces == ["말뭉치를", "abc", " 처리"]
    # specials are single tokens
    chat = render_chat([{"role": "user", "content": "안녕"}])
    ids = tok.encode(chat).ids
    assert tok.token_to_id("<|im_start|>") in ids and tok.token_to_id("<think>") in ids


def test_chat_template_thinking_on_off(tok_dir):
    msgs = [{"role": "system", "content": "도움이 되는 비서"}, {"role": "user", "content": "1+1은?"}]
    on, off = render_chat(msgs, enable_thinking=True), render_chat(msgs, enable_thinking=False)
    assert on.endswith("<|im_start|>assistant\n<think>") and off.endswith("</think>")
    assert on.startswith("<|im_start|>system\n도움이 되는 비서<|im_end|>\n<|im_start|>user\n1+1은?<|im_end|>\n")
    cfg = json.loads((tok_dir / "tokenizer_config.json").read_text())
    assert cfg["eos_token"] == "<|im_end|>" and "enable_thinking" in cfg["chat_template"]
    # and as chat_template.jinja, which transformers 5 reads first and `axk1 export` copies into the model folder
    assert (tok_dir / "chat_template.jinja").read_text() == cfg["chat_template"]


def test_chars_per_token_and_hf_load(tok_dir):
    tok = load_tokenizer(tok_dir)
    rng = random.Random(99)
    ko = chars_per_token(tok, [korean_document(rng, 2, 5) for _ in range(5)])
    en = chars_per_token(tok, [english_document(rng, 2, 5) for _ in range(5)])
    assert ko > 1.5 and en > 2.5
    nfd = [unicodedata.normalize("NFD", korean_document(rng, 2, 5)) for _ in range(5)]  # macOS writes Hangul so
    assert chars_per_token(tok, nfd) == chars_per_token(tok, [unicodedata.normalize("NFC", t) for t in nfd])
    from transformers import PreTrainedTokenizerFast  # any HF tokenizer.json loads both ways

    hf = PreTrainedTokenizerFast(tokenizer_file=str(tok_dir / "tokenizer.json"))
    assert hf.encode("한국어") == tok.encode("한국어").ids
    with pytest.raises(FileNotFoundError):
        load_tokenizer(tok_dir / "missing")


def _docs():
    rng = random.Random(3)
    docs = []
    for i in range(30):
        domain = ["web", "math", "code"][i % 3]
        text = CODE if domain == "code" else korean_document(rng, 1, 3)
        docs.append(Document(text, f"d{i}", metadata={"domain": domain, "difficulty": (i % 10) / 10,
                                                     "source": "t", "language": "ko"}))
    return docs


def test_shards_deterministic_with_manifest(tmp_path, tok_dir):
    outs = []
    for run in ("a", "b"):
        w = TokenShardWriter(str(tmp_path / run), str(tok_dir), [0.35, 0.5])
        list(w.run(iter(_docs()), rank=0, world_size=1) or [])
        outs.append({p.relative_to(tmp_path / run): p.read_bytes() for p in sorted((tmp_path / run).rglob("*"))
                     if p.is_file()})
    assert outs[0] == outs[1] and outs[0]
    m = write_corpus_manifest(tmp_path / "a", str(tok_dir), [0.35, 0.5])
    assert set(m["domains"]) == {"web", "math", "code"}
    assert set(m["domains"]["web"]["buckets"]) <= {"d0", "d1", "d2"}
    assert m["total_docs"] == 30 and len(m["tokenizer_hash"]) == 16
    tok = load_tokenizer(tok_dir)
    shard = next(s for s in m["shards"] if s["domain"] == "code")
    # read as the trainer reads them
    code = next(s for s in load_shards(tmp_path / "a" / "manifest.json")[1] if s.domain == "code")
    tokens, offsets = code.tokens, code.offsets
    assert tokens.dtype == np.uint32 and offsets[-1] == len(tokens) == shard["tokens"]
    first = tokens[offsets[0]:offsets[1]].tolist()
    assert first[0] == tok.token_to_id("<|endoftext|>") and tok.decode(first[1:]) == CODE
    manifest_bytes = (tmp_path / "a" / "manifest.json").read_bytes()
    write_corpus_manifest(tmp_path / "a", str(tok_dir), [0.35, 0.5])
    assert (tmp_path / "a" / "manifest.json").read_bytes() == manifest_bytes


def test_bucket_names():
    assert [bucket_name(x, [0.35, 0.5]) for x in (0.0, 0.35, 0.4, 0.9)] == ["d0", "d0", "d1", "d2"]


def test_generated_math_answers_are_checked():
    probs = generate_problems(12, seed=5)
    assert {p["domain"] for p in probs} == {"math", "reasoning"} and {p["language"] for p in probs} == {"ko", "en"}
    for p in probs:
        assert p["text"].rstrip().endswith(p["answer"])


def test_reference_model_perplexity_in_difficulty(tmp_path, tiny_config):
    import shutil

    from axk1.data.difficulty import DifficultyAnnotator
    from axk1 import AXK1ForCausalLM, save_pretrained

    rng = random.Random(4)
    train_tokenizer([korean_document(rng, 2, 5) for _ in range(50)], tmp_path / "tok",
                    TokenizerConfig(vocab_size=tiny_config.vocab_size))
    save_pretrained(AXK1ForCausalLM(tiny_config), tmp_path / "model")
    shutil.copy(tmp_path / "tok" / "tokenizer.json", tmp_path / "model" / "tokenizer.json")
    step = DifficultyAnnotator(str(tmp_path / "model"))
    docs = list(step.run(iter([Document(korean_document(rng, 1, 3), "a")])))
    sig = docs[0].metadata["difficulty_signals"]
    # an untrained model is near uniform over the vocabulary
    assert 0.3 * tiny_config.vocab_size < sig["perplexity"] < 3 * tiny_config.vocab_size
    assert 0 <= docs[0].metadata["difficulty"] <= 1


def test_a_tokenizer_cut_by_a_full_disk_is_not_left_to_be_taken_as_trained(tmp_path, monkeypatch):
    """The pipeline's tokenizer stage trains only when tokenizer.json is missing; a full disk left a cut one, and
    every later run stopped on it ("not a readable tokenizer") instead of training it again. Files are written whole
    now, tokenizer.json last."""
    import errno
    import os

    import axk1.atomic_file as atomic_file

    rng = random.Random(0)
    texts = [korean_document(rng, 2, 4) for _ in range(30)]
    real_replace = os.replace

    def disk_full_on_the_tokenizer(src, dst):
        if str(dst).endswith("/tokenizer.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(atomic_file.os, "replace", disk_full_on_the_tokenizer)
    with pytest.raises(OSError, match="No space left"):
        train_tokenizer(texts, tmp_path / "tok", TokenizerConfig(vocab_size=600))
    assert sorted(p.name for p in (tmp_path / "tok").iterdir()) == ["chat_template.jinja", "tokenizer_config.json"]
    monkeypatch.setattr(atomic_file.os, "replace", real_replace)
    train_tokenizer(texts, tmp_path / "tok", TokenizerConfig(vocab_size=600))
    assert load_tokenizer(tmp_path / "tok" / "tokenizer.json").get_vocab_size() == 600


def test_think_tags_survive_a_decode_that_skips_special_tokens(tok_dir):
    """The trained tokenizer marked <think> and </think> special, as the control tokens: transformers'
    decode(skip_special_tokens=True) and `axk1 generate` dropped them, and with them where the reasoning ends.
    `axk1 serve` already took them as text (docs/serving.md); the trained tokenizer now says the same."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    ids = tok.encode("<think>\n생각</think>답", add_special_tokens=False)
    assert ids[0] == tok.convert_tokens_to_ids("<think>") == SPECIAL_TOKENS.index("<think>")  # still one token
    assert tok.decode(ids, skip_special_tokens=True) == "<think>\n생각</think>답"
    assert tok.decode(tok.encode("<|im_start|>a<|im_end|>", add_special_tokens=False), skip_special_tokens=True) == "a"


FEATURES_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'tool' %}{% continue %}{% endif %}"
    "<|im_start|>{{ m['role'] }}\n"
    "{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] }}{% endgeneration %}"
    "{% else %}{{ m['content'] }}{% endif %}<|im_end|>\n"
    "{% if loop.index >= 3 %}{% break %}{% endif %}{% endfor %}"
    "{{ {'z': '한', 'a': [1, 2]} | tojson(sort_keys=True, separators=(',', ':')) }}"
    "{{ {'k': '한'} | tojson(ensure_ascii=True) }}{{ strftime_now('%Y') | length }}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_a_folder_template_renders_as_transformers_renders_it(tok_dir, tmp_path):
    """A template with `{% break %}`, `{% generation %}`, tojson(sort_keys=..., separators=...) or strftime_now
    rendered in transformers; `axk1 serve` refused the first two at startup and failed every request on the
    others (a real model's template may use any of them)."""
    import shutil

    from transformers import AutoTokenizer

    from axk1.infer.chat import ChatCodec

    folder = tmp_path / "m"
    shutil.copytree(tok_dir, folder)
    (folder / "chat_template.jinja").write_text(FEATURES_TEMPLATE)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template")
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    messages = [{"role": "system", "content": "s"}, {"role": "tool", "content": "t"},
                {"role": "user", "content": "안녕"}, {"role": "assistant", "content": "a"},
                {"role": "user", "content": "never reached"}]
    want = AutoTokenizer.from_pretrained(str(folder)).apply_chat_template(messages, tokenize=False,
                                                                         add_generation_prompt=True)
    assert ChatCodec.from_folder(folder).render(messages) == want
    assert "never reached" not in want and '{"a":[1,2],"z":"한"}' in want and "\\ud55c" in want


def test_history_reasoning_is_rendered_as_sft_trained_it(tok_dir):
    """An earlier assistant turn sent back verbatim (`<think>…</think>\\n\\n4`, as a client appends the decoded
    reply) was rendered with its reasoning by `axk1 serve` and transformers, while SFT trained on history without
    it: the model saw at serving a prompt it never saw in training."""
    from transformers import AutoTokenizer

    from axk1.infer.chat import ChatCodec
    from axk1.posttrain.chat_data import prompt_text

    messages = [{"role": "user", "content": "2+2?"},
                {"role": "assistant", "content": "<think>\ntwo plus two\n</think>\n\n4"},
                {"role": "user", "content": "3+3?"}]
    codec = ChatCodec.from_folder(tok_dir)
    served = codec.render(messages, enable_thinking=True)
    assert served == prompt_text(codec, messages, True)
    assert served == AutoTokenizer.from_pretrained(str(tok_dir)).apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, enable_thinking=True)
    assert "<|im_start|>assistant\n4<|im_end|>" in served and "two plus two" not in served


def test_a_template_is_compiled_once_for_every_row_it_renders(monkeypatch):
    """render_template compiled the template again for every row (14 ms a row, 97% of the time: four hours of an
    SFT set of 1M rows); a second template is compiled on its own and each renders its own text."""
    from axk1.text import chat_template

    compiles = []
    environment = chat_template.template_environment
    monkeypatch.setattr(chat_template, "template_environment", lambda: compiles.append(1) or environment())
    chat_template._compiled.cache_clear()
    messages = [{"role": "user", "content": "안녕"}]
    for i in range(50):
        text = chat_template.render_template(chat_template.CHAT_TEMPLATE, {"messages": messages, "add_generation_prompt": i % 2})
        assert text.startswith("<|im_start|>user\n안녕<|im_end|>\n")
    assert chat_template.render_template("{{ messages | length }} rows", {"messages": messages}) == "1 rows"
    assert len(compiles) == 2
