"""Text side of a model folder: tokenizer.json, the chat template, and the files that describe them.

A.X K1's chat format is ChatML-like (`<|im_start|>role\\n...<|im_end|>`, eos `<|im_end|>`), with thinking switched by
the template flag `enable_thinking`: the thinking generation prompt ends with `<think>`, the non-thinking one with an
empty `<think>...</think>` block (docs/posttraining.md). The template is rendered the way transformers'
`apply_chat_template` renders it (sandboxed Jinja2, trim_blocks + lstrip_blocks), so the server and anything that
loads the folder with transformers or vLLM build the same prompt.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from axk1.json_text import read_json_file
from axk1.text.chat_template import CHAT_TEMPLATE, read_chat_template, render_template, template_environment
from axk1.text.reasoning import REASONING_FIELDS  # an assistant's trace under its names
from axk1.text.segment_encoder import SegmentEncoder
from axk1.text.template_limits import PastBounds
from axk1.text.think_prompt import in_mode
from axk1.text.tokenizer_file import TEXT_TAGS, THINK_OPEN, load_tokenizer, special_token_pattern
from axk1.text.tool_format import normalise_tool_calls


log = logging.getLogger(__name__)


def message_text(content: Any, role: str = "assistant") -> str:
    """OpenAI message content: a string, or a list of parts whose texts are joined. A `refusal` part (an earlier
    assistant turn's refusal, as the openai client may send it back) counts as text in an assistant message, as
    vLLM renders it. ValueError on what `axk1 serve` refuses (infer/schema.py): a part that is not text, a text
    that is not a string (str() of null, 42 or a list was trained as "None", "42", "['a', 'b']"), a refusal part
    in another role's message."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in ("text", "refusal"):
                raise ValueError("only text message parts are supported (type 'text', or 'refusal' in an assistant "
                                 "message); this model reads no images")
            if kind == "refusal" and role != "assistant":
                raise ValueError(f"content[{j}] is a 'refusal' part, which belongs to an assistant message; a {role} "
                                 "message takes text parts")
            text = part.get(kind)
            if not isinstance(text, str):  # said as the row's JSON says it (null, 42, ["a", "b"])
                got = "nothing" if kind not in part else json.dumps(text, ensure_ascii=False, default=str)[:40]
                raise ValueError(f"content[{j}].{kind} must be a string, got {got}")
            texts.append(text)
        return "".join(texts)
    raise ValueError(f"message content must be a string or a list of text parts, got {type(content).__name__}")


@dataclass
class ChatCodec:
    """tokenizer.json + chat template of one model folder."""

    tokenizer: Any  # tokenizers.Tokenizer
    chat_template: str
    bos_token: str | None = None
    eos_token: str | None = None
    template_source: str = "the folder"  # or "axk1's default" (a folder without a template)
    template_file: str = "axk1's default chat template"  # the file it was read from, for its errors
    _special_re: re.Pattern | None = field(default=None, init=False, repr=False)
    _bytes: dict[int, bytes | None] = field(default_factory=dict, init=False, repr=False)
    _text_bytes: dict[int, bytes] = field(default_factory=dict, init=False, repr=False)
    _segments: SegmentEncoder | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_folder(cls, folder: str | Path) -> ChatCodec | None:
        """None when the folder has no tokenizer.json (a token-id-only model)."""
        folder = Path(folder)
        if not (folder / "tokenizer.json").exists():
            return None
        tokenizer = load_tokenizer(folder / "tokenizer.json")
        check_tokenizer_fits_vocab(tokenizer, folder)
        from axk1.checkpoint.folder import read_json_object  # torch and safetensors: not for the eval flags

        config = {}
        if (folder / "tokenizer_config.json").exists():
            config = read_json_object(folder / "tokenizer_config.json")
        template, source = read_chat_template(folder, config), "the folder"
        file = folder / "tokenizer_config.json"
        bos, eos = _token_text(config, "bos_token", file), _token_text(config, "eos_token", file)
        if template is None:
            log.warning("%s has no chat template; using axk1's ChatML-with-thinking default", folder)
            return cls(tokenizer, CHAT_TEMPLATE, bos, eos, "axk1's default")
        codec = cls(tokenizer, template, bos, eos, source, str(_template_file(folder)))
        # at startup: a template that cannot compile, or runs past the bounds on rendering, would otherwise fail
        # every request (blaming the client), or hold a server thread for each
        codec.check_template()
        return codec

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=add_special_tokens).ids

    def encode_text(self, text: str) -> list[int]:
        """`encode(text, add_special_tokens=False)`, the same ids, each piece between added tokens encoded once and
        remembered (text/segment_encoder.py): SFT encodes a row's history again for every turn."""
        if self._segments is None:
            self._segments = SegmentEncoder(self.tokenizer)
        return self._segments.encode(text)

    def decode(self, ids: list[int]) -> str:
        """Text without special tokens, except the think and tool-call tags: a tokenizer that registered them as
        special (the starter tokenizer does) would otherwise lose them, and with them the reasoning/answer boundary
        and the tool calls."""
        think = {i: t for t in TEXT_TAGS if (i := self.token_id(t)) is not None}
        if not any(i in think for i in ids):
            return self.tokenizer.decode(ids, skip_special_tokens=True)
        parts, run = [], []
        for i in ids:
            if i in think:  # byte-level pieces never straddle an added token, so the runs decode on their own
                parts += [self.tokenizer.decode(run, skip_special_tokens=True), think[i]]
                run = []
            else:
                run.append(i)
        return "".join(parts + [self.tokenizer.decode(run, skip_special_tokens=True)])

    def token_id(self, token: str) -> int | None:
        return self.tokenizer.token_to_id(token)

    @property
    def turn_end(self) -> int | None:
        """The id that ends an assistant turn as SFT trains it (the tokenizer's eos token, else `<|im_end|>`)."""
        return self.token_id(self.eos_token or "<|im_end|>")

    def token_bytes(self, token: int) -> bytes | None:
        """The bytes a token stands for (None for an id the tokenizer does not have). Not its decoded text: a
        byte-level token may hold part of a UTF-8 character, which decodes to U+FFFD alone. Byte-level BPE (ours,
        A.X K1's) spells bytes as characters of a 256-letter alphabet; a byte-fallback token is `<0xEC>`; added
        tokens are their text; any other tokenizer's pieces are their decoded text. Computed once per id."""
        if token not in self._bytes:
            self._bytes[token] = self._find_bytes(token)
        return self._bytes[token]

    def text_bytes(self, token: int) -> bytes:
        """The bytes `token` adds to `decode`'s text: its own (token_bytes), or none for a special token (decode
        skips it; the think and tool-call tags are text) or an id the tokenizer does not have."""
        if token not in self._text_bytes:
            added = self.tokenizer.get_added_tokens_decoder().get(token)
            skipped = added is not None and added.special and added.content not in TEXT_TAGS
            self._text_bytes[token] = b"" if skipped else (self.token_bytes(token) or b"")
        return self._text_bytes[token]

    def _find_bytes(self, token: int) -> bytes | None:
        piece = self.tokenizer.id_to_token(token)
        if piece is None:
            return None
        added = self.tokenizer.get_added_tokens_decoder().get(token)
        if added is not None:
            return added.content.encode()
        if type(self.tokenizer.decoder).__name__ == "ByteLevel" and all(c in _BYTE_LEVEL for c in piece):
            return bytes(_BYTE_LEVEL[c] for c in piece)
        fallback = re.fullmatch(r"<0x([0-9A-Fa-f]{2})>", piece)
        if fallback:
            return bytes([int(fallback.group(1), 16)])
        return self.tokenizer.decode([token], skip_special_tokens=False).encode()

    def find_special_token(self, text: str) -> str | None:
        """The first of the tokenizer's special tokens (turn markers, end of text, padding; not the think tags) in
        `text`, or None: strings that tokenize to a control token wherever they appear in a rendered prompt. One
        compiled alternation, made on first use: a real tokenizer reserves hundreds of them."""
        if self._special_re is None:
            added = self.tokenizer.get_added_tokens_decoder().values()
            self._special_re = special_token_pattern(t.content for t in added
                                                     if t.special and t.content not in TEXT_TAGS)
        found = self._special_re.search(text)
        return found.group() if found else None

    def render(self, messages: list[dict[str, Any]], /, add_generation_prompt: bool = True, **kwargs: Any) -> str:
        """The prompt text for `messages`; kwargs are the request's chat_template_kwargs (enable_thinking, ...).
        `messages` is positional-only so that no kwarg name can clash with a parameter (the server refuses the
        template variables set here, see schema.RESERVED_TEMPLATE_KEYS)."""
        if not messages:
            raise ValueError("messages is empty: send at least one message")
        return self.render_history(messages, add_generation_prompt, **kwargs)

    def render_history(self, messages: list[dict[str, Any]], /, add_generation_prompt: bool = True,
                       **kwargs: Any) -> str:
        """`render` without its rule that a request holds a message: SFT renders the empty history before an
        assistant that speaks first (the generation prompt alone)."""
        clean = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or "role" not in m:
                raise ValueError(f"messages[{i}] must be an object with 'role' and 'content'")
            m = {**m, "content": message_text(m.get("content"), m["role"])}
            trace = next((m[k] for k in REASONING_FIELDS if m.get(k) is not None), None)
            if trace is not None:  # a trace under any of its names, given under each, as transformers 5 gives it
                m = {"thinking": trace, **m, "reasoning_content": trace}
            if m.get("tool_calls") is not None:  # string arguments as objects: one call, one text (tool_format)
                m["tool_calls"] = normalise_tool_calls(m["tool_calls"], f"messages[{i}].tool_calls")
            clean.append(m)
        return render_template(self.chat_template, {
            "messages": clean, "add_generation_prompt": add_generation_prompt,
            "bos_token": self.bos_token or "", "eos_token": self.eos_token or "", **kwargs,
        }, self.template_file)

    def mode_prompt(self, messages: list[dict[str, Any]], /, thinking: bool, **kwargs: Any) -> str:
        """The generation prompt in think or non-think mode, as SFT, RL, heldout and eval build it: the template's
        with enable_thinking, ended as axk1's format ends it where it does not already (text/think_prompt.py)."""
        return in_mode(self.render_history(messages, True, enable_thinking=thinking, **kwargs), thinking)

    def ends_prompts_itself(self) -> bool:
        """Whether the template's own generation prompts end as axk1's format ends them in both modes, so that
        `mode_prompt` adds nothing and a server rendering the template (axk1 serve, vLLM) prompts as training did.
        False for one that ignores enable_thinking (plain ChatML) and for one that switches but opens no block in
        think mode (Qwen3's style: `assistant\n`, where axk1's prompts end with `<think>`)."""
        user = [{"role": "user", "content": "What is 2 + 2?"}]  # a template may refuse a system turn
        try:
            return all(in_mode(text, thinking) == text for thinking in (True, False)
                       for text in [self.render_history(user, True, enable_thinking=thinking)])
        except ValueError:  # it refuses even this: the rows themselves will say so
            return True

    def check_template(self) -> None:
        """Refuses a template that does not compile, reads other templates, or passes the bounds on rendering
        (text/template_limits.py) on a short probe conversation. Any other error of the probe is left to the
        requests: a template may refuse some conversations on purpose (raise_exception)."""
        _check_template(self.chat_template, Path(self.template_file))
        for thinking in (True, False):
            try:
                self.render(_PROBE, enable_thinking=thinking)
            except PastBounds:
                raise
            except ValueError:
                pass





def _byte_level_alphabet() -> dict[str, int]:
    """Byte-level BPE's letters -> bytes: a printable byte is its own letter; the other 68 (controls, space, DEL,
    the 0x80-0xA0 range, soft hyphen) are written as chr(256), chr(257), ... in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    others = [b for b in range(256) if b not in printable]
    return {**{chr(b): b for b in printable}, **{chr(256 + i): b for i, b in enumerate(others)}}


_BYTE_LEVEL = _byte_level_alphabet()


def check_tokenizer_fits_vocab(tokenizer: Any, folder: Path) -> None:
    """Refuses a tokenizer.json with a token whose id is past config.json's vocab_size: the model has no embedding
    for it, so a prompt holding its text, or a chat template that writes it, failed at the embedding (an IndexError,
    a CUDA assert), or as a request error blaming the client. A folder without a config.json has no model to check."""
    config = folder / "config.json"
    # the model's config, not an optional file: read_json_object's advice (delete it) would lose the model
    raw = read_json_file(config, "fix the file or re-export the folder", need_object=True) if config.is_file() else {}
    vocab_size = raw.get("vocab_size")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        return  # no model here, or a config.json that loading the model refuses with its own error
    token, top = max(tokenizer.get_vocab(with_added_tokens=True).items(), key=lambda kv: kv[1], default=("", -1))
    if top >= vocab_size:
        raise ValueError(f"{folder / 'tokenizer.json'} has the token {token!r} with id {top}, but {config} says "
                         f"vocab_size = {vocab_size}: the model has no embedding for ids past {vocab_size - 1}; use "
                         "the tokenizer the model was trained with, or re-export the folder")


# A short conversation every template must render within the bounds when the folder is loaded.
_PROBE = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Hi"},
          {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "What is 2 + 2?"}]


def _template_file(folder: Path) -> Path:
    return folder / ("chat_template.jinja" if (folder / "chat_template.jinja").exists() else "tokenizer_config.json")


def _check_template(template: Any, source: Path) -> None:
    if not isinstance(template, str):
        raise ValueError(f"{source}: the chat template must be a string, got {type(template).__name__}")
    from jinja2 import TemplateSyntaxError

    try:  # the environment render_template uses; parsing alone runs nothing
        template_environment().parse(template)
    except TemplateSyntaxError as e:
        raise ValueError(f"{source}: the chat template does not compile (line {e.lineno}: {e.message}); fix it, "
                         "or delete it to use axk1's default template") from e


def _token_text(config: dict[str, Any], key: str, file: Path) -> str | None:
    """tokenizer_config.json's `key` (bos_token, eos_token): a string, the AddedToken form {"content": "..."}, or
    null; anything else is an error naming the file and field (a number there was a TypeError traceback)."""
    token = config.get(key)
    if isinstance(token, dict):  # the AddedToken form {"content": ...}
        token = token.get("content")
    if token is not None and not isinstance(token, str):
        raise ValueError(f"{file}: {key} must be a token's text (a string, or {{\"content\": \"...\"}}), got "
                         f"{config[key]!r:.80}: fix it or delete the field")
    return token


def prompt_opens_reasoning(prompt_text: str) -> bool:
    """True when the rendered prompt leaves the model inside a think block, so its output starts with reasoning."""
    return prompt_text.rstrip().endswith(THINK_OPEN)
