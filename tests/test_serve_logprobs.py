"""Logprobs from a real `axk1 serve`, asked for with the official openai client and checked against transformers:
the folder's model run by transformers' own AXK1ForCausalLM gives the log_softmax each returned logprob must be, its
tokenizer (and its byte-level alphabet) the bytes each token must have. Chat (`logprobs`, `top_logprobs`) and
completions (`logprobs: k`), greedy and sampled, streamed and whole; Korean text, whose syllables are split over
byte-level tokens. They were refused before ("logprobs are not supported by this server")."""

import openai
import pytest
import torch
from transformers import AutoTokenizer
from transformers import AXK1ForCausalLM as HFModel
from transformers.convert_slow_tokenizer import bytes_to_unicode

from tests.serve_helpers import ServerProcess, make_model_folder

TOL = 1e-4  # our engine against transformers' forward, both fp32 (test_hf_equivalence holds logits to the same)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_model_folder(tmp_path_factory.mktemp("logprobs") / "axk1-tiny-chat")


@pytest.fixture(scope="module")
def client(folder):
    with ServerProcess(folder, "--max-batch", "4") as server:
        yield openai.OpenAI(base_url=server.base + "/v1", api_key="unused", timeout=60, max_retries=0)


@pytest.fixture(scope="module")
def hf(folder):
    """(tokenizer, logprobs(ids) -> [T, V] raw log_softmax after each prefix, token id -> its bytes or None)."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = HFModel.from_pretrained(folder, dtype=torch.float32).eval()
    letter_byte = {letter: byte for byte, letter in bytes_to_unicode().items()}
    special = {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}

    def logprobs(ids):
        with torch.no_grad():
            return model(torch.tensor([ids])).logits[0].float().log_softmax(-1)

    def token_bytes(i):
        piece = tokenizer.convert_ids_to_tokens(i)
        if piece is None:  # the model's vocabulary (512) is larger than this tokenizer's
            return None
        if i in tokenizer.added_tokens_decoder:
            return piece.encode()
        return bytes(letter_byte[c] for c in piece)

    return tokenizer, logprobs, token_bytes, special


def _ids(tokens):
    assert all(t.startswith("token_id:") for t in tokens)
    return [int(t.removeprefix("token_id:")) for t in tokens]


def _text_of(ids, token_bytes, special):
    """The reply's text as the ids' bytes make it (special tokens are not text)."""
    return b"".join(token_bytes(i) or b"" for i in ids if i not in special)


def _ends_unfinished(raw: bytes) -> bool:
    """Whether `raw` ends inside a UTF-8 character that more bytes could still finish."""
    for j in range(1, min(3, len(raw)) + 1):
        try:
            raw[-j:].decode("utf-8")
        except UnicodeDecodeError as e:
            if e.reason == "unexpected end of data" and e.start == 0:
                return True
    return False


def test_chat_logprobs_are_transformers_log_softmax_and_bytes_are_the_tokens_own(client, folder, hf):
    tokenizer, logprobs, token_bytes, special = hf
    messages = [{"role": "user", "content": "서울은 어떤 도시인가요?"}]
    extra = {"chat_template_kwargs": {"enable_thinking": False}, "ignore_eos": True}
    kwargs = dict(model=folder.name, messages=messages, max_tokens=32, temperature=0, logprobs=True, top_logprobs=5)
    by_id = client.chat.completions.create(**kwargs, extra_body={**extra, "return_tokens_as_token_ids": True})
    entries = by_id.choices[0].logprobs.content
    ids = _ids([e.token for e in entries])
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, enable_thinking=False)["input_ids"]
    assert by_id.usage.prompt_tokens == len(prompt) and len(ids) == by_id.usage.completion_tokens == 32
    rows = logprobs(prompt + ids)[len(prompt) - 1: -1]  # the distribution each generated token was chosen from
    for e, token, row in zip(entries, ids, rows):
        assert token == int(row.argmax())  # greedy: the model's most likely token
        assert e.logprob == pytest.approx(float(row[token]), abs=TOL)
        best = row.topk(5)
        assert _ids([t.token for t in e.top_logprobs]) == best.indices.tolist()
        assert [t.logprob for t in e.top_logprobs] == pytest.approx(best.values.tolist(), abs=TOL)
        assert [t.logprob for t in e.top_logprobs] == sorted((t.logprob for t in e.top_logprobs), reverse=True)
        assert e.top_logprobs[0].token == e.token and e.top_logprobs[0].logprob == e.logprob

    # named by text: each token's bytes are its own, also when it holds part of a Hangul syllable
    named = client.chat.completions.create(**kwargs, extra_body=extra)
    entries, by_id_entries = named.choices[0].logprobs.content, by_id.choices[0].logprobs.content
    assert [e.logprob for e in entries] == [e.logprob for e in by_id_entries]

    def named_as(token):
        raw = token_bytes(token)
        return (f"token_id:{token}", None) if raw is None else (raw.decode("utf-8", "backslashreplace"), list(raw))

    for e, token, alts in zip(entries, ids, by_id_entries):
        assert (e.token, e.bytes) == named_as(token)
        assert [(t.token, t.bytes) for t in e.top_logprobs] == [named_as(t) for t in _ids(
            [t.token for t in alts.top_logprobs])]
    partial = [bytes(e.bytes) for e in entries if e.bytes and not _decodes(bytes(e.bytes))]
    assert partial, "the greedy reply should hold a token that is part of a UTF-8 character"
    text = tokenizer.decode(ids, skip_special_tokens=True)  # a random model also writes stray bytes: U+FFFD
    assert _text_of(ids, token_bytes, special).decode("utf-8", "replace") == text == named.choices[0].message.content

    # streamed: the chunks' logprobs, put together, are the whole reply's
    chunks = [c for chunk in client.chat.completions.create(**kwargs, extra_body=extra, stream=True)
              for c in chunk.choices]
    streamed = [x for c in chunks if c.logprobs is not None for x in c.logprobs.content]
    assert [x.model_dump() for x in streamed] == [x.model_dump() for x in entries]
    # a chunk that carries no new token (the finish chunk) has logprobs null, as OpenAI's and vLLM's; not {content: []}
    assert all(c.logprobs is None or c.logprobs.content for c in chunks)


def _decodes(raw):
    try:
        raw.decode()
        return True
    except UnicodeDecodeError:
        return False


def test_completion_logprobs_are_raw_model_logprobs_of_sampled_tokens(client, folder, hf):
    """Sampled at temperature 0.7 and top_p 0.9, a token's logprob is still the model's raw log_softmax (vLLM's
    default), not that of the temperature-scaled distribution. Each position lists the 3 most likely tokens and the
    chosen one; text_offset is where each token's text begins."""
    tokenizer, logprobs, token_bytes, special = hf
    kwargs = dict(model=folder.name, prompt="Seoul is", max_tokens=24, temperature=0.7, top_p=0.9, seed=5, n=2,
                  logprobs=3)
    by_id = client.completions.create(**kwargs, extra_body={"ignore_eos": True, "return_tokens_as_token_ids": True})
    named = client.completions.create(**kwargs, extra_body={"ignore_eos": True})
    prompt = tokenizer("Seoul is")["input_ids"]
    processed_gap = 0.0
    for choice, text_choice in zip(by_id.choices, named.choices):
        lp = choice.logprobs
        ids = _ids(lp.tokens)
        rows = logprobs(prompt + ids)[len(prompt) - 1: -1]
        raw = rows.gather(1, torch.tensor(ids)[:, None])[:, 0]
        assert lp.token_logprobs == pytest.approx(raw.tolist(), abs=TOL)
        processed = (rows / 0.7).log_softmax(-1).gather(1, torch.tensor(ids)[:, None])[:, 0]
        processed_gap = max(processed_gap, float((processed - raw).abs().max()))
        for token, top, row in zip(ids, lp.top_logprobs, rows):
            best = row.topk(3)
            want = dict(zip(best.indices.tolist(), best.values.tolist()))
            want.setdefault(token, float(row[token]))  # the chosen token is always listed: up to k + 1 entries
            assert sorted(_ids(top)) == sorted(want)
            assert [top[f"token_id:{i}"] for i in want] == pytest.approx(list(want.values()), abs=TOL)
        # named by text, the same tokens; a token's text_offset is where the text of the tokens before it ends,
        # less a character they leave unfinished (the token continues it), whose U+FFFD is one; the U+FFFDs of
        # bytes already invalid are characters of the text (a sampled tiny model writes such bytes)
        assert text_choice.logprobs.token_logprobs == lp.token_logprobs
        offsets = [len(tokenizer.decode(ids[:k], skip_special_tokens=True))
                   - _ends_unfinished(_text_of(ids[:k], token_bytes, special)) for k in range(len(ids))]
        assert text_choice.logprobs.text_offset == offsets
        assert text_choice.text == tokenizer.decode(ids, skip_special_tokens=True)
        assert text_choice.text == _text_of(ids, token_bytes, special).decode("utf-8", "replace")
    assert processed_gap > 0.1  # the check tells raw from temperature-scaled logprobs apart

    streamed = {}
    for chunk in client.completions.create(**kwargs, extra_body={"ignore_eos": True}, stream=True):
        for c in chunk.choices:
            into = streamed.setdefault(c.index, {"tokens": [], "token_logprobs": [], "top_logprobs": [],
                                                 "text_offset": []})
            for key in into:
                into[key] += getattr(c.logprobs, key)
    assert streamed == {c.index: {k: getattr(c.logprobs, k) for k in streamed[0]} for c in named.choices}


def test_logprob_limits_are_clear_400s(client, folder):
    chat = dict(model=folder.name, messages=[{"role": "user", "content": "hi"}], max_tokens=2,
                extra_body={"ignore_eos": True})  # a sampled reply may end at its first token: no entry to read
    refused = [(dict(logprobs=True, top_logprobs=21), "top_logprobs", "less than or equal to 20"),
               (dict(logprobs=True, top_logprobs=-1), "top_logprobs", "greater than or equal to 0"),
               (dict(top_logprobs=2), "top_logprobs", "needs 'logprobs': true"),
               (dict(logprobs=False, top_logprobs=0), "top_logprobs", "needs 'logprobs': true")]
    for fields, param, message in refused:
        with pytest.raises(openai.BadRequestError, match=message) as e:
            client.chat.completions.create(**chat, **fields)
        assert e.value.status_code == 400 and e.value.body["param"] == param
    for value, message in ((21, "less than or equal to 20"), (-1, "greater than or equal to 0")):
        with pytest.raises(openai.BadRequestError, match=message) as e:
            client.completions.create(model=folder.name, prompt="hi", max_tokens=2, logprobs=value)
        assert e.value.body["param"] == "logprobs"
    # the bounds themselves are served; without logprobs the field is null
    ok = client.chat.completions.create(**chat, logprobs=True, top_logprobs=20)
    assert all(len(e.top_logprobs) == 20 for e in ok.choices[0].logprobs.content)
    assert client.chat.completions.create(**chat, logprobs=True, top_logprobs=0).choices[0].logprobs.content[
        0].top_logprobs == []
    zero = client.completions.create(model=folder.name, prompt="hi", max_tokens=2, logprobs=0).choices[0].logprobs
    assert [list(top.values()) for top in zero.top_logprobs] == [[lp] for lp in zero.token_logprobs]
    assert client.chat.completions.create(**chat).choices[0].logprobs is None
