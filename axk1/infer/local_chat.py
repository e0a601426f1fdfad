"""`axk1 generate --chat`: one message asked of a model folder as `axk1 serve` asks it on /v1/chat/completions.

The prompt goes through the server's own path: the message is validated as a request body (protocol.parse_request)
and rendered by chat_prompt.render_chat, special-token checks and chat_template_kwargs included, then tokenized
without added special tokens, as the chat route tokenizes; the reply is split into reasoning and answer by the
server's detokenizer (detok.IncrementalText, choice_fields.choice_text). So a local run and a served request of the
same message give the same prompt ids, and a greedy reply the same split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from axk1.infer.chat import ChatCodec, prompt_opens_reasoning
from axk1.infer.chat_prompt import render_chat
from axk1.infer.choice_fields import choice_text
from axk1.infer.detok import IncrementalText
from axk1.infer.protocol import APIError, ChatRequest, parse_request


@dataclass
class ChatPrompt:
    text: str  # the rendered prompt
    ids: list[int]
    reasoning: bool  # the prompt opens a think block: the reply starts with reasoning


def chat_codec(codec: ChatCodec | None, folder: Path) -> ChatCodec:
    """The folder's codec, refused without tokenizer.json (nothing to render or read text with). A folder without a
    chat template of its own chats in axk1's default, as `axk1 serve` does: ChatCodec.from_folder chose it, with the
    server's warning (a model not trained on that template may not follow it)."""
    if codec is None:
        raise ValueError(f"--chat needs the folder's tokenizer.json (to render the chat and read the reply), but {folder} has no "
                         "tokenizer.json: add the tokenizer the model was trained with, or drop --chat and pass "
                         "token ids")
    return codec


def chat_prompt(codec: ChatCodec, message: str, system: str | None = None, thinking: bool | None = None) -> ChatPrompt:
    """The prompt `axk1 serve` builds for a chat request of `message` (a user turn), after `system` when given, with
    chat_template_kwargs {"enable_thinking": thinking} when it is not None (None: the template's default)."""
    messages = ([{"role": "system", "content": system}] if system is not None else [])
    messages.append({"role": "user", "content": message})
    body = {"messages": messages, **({"chat_template_kwargs": {"enable_thinking": thinking}}
                                     if thinking is not None else {})}
    try:
        text = render_chat(codec, parse_request(ChatRequest, body))
    except APIError as e:  # the server's 400, said of the flag that carried the text
        flag = "--system" if system is not None and (e.param or "").startswith("messages[0]") else "--prompt"
        raise ValueError(f"{flag}: {e.message}") from None
    return ChatPrompt(text, codec.encode(text, add_special_tokens=False), prompt_opens_reasoning(text))


def split_reply(codec: ChatCodec, tokens: list[int], reasoning: bool) -> tuple[str | None, str | None]:
    """(reasoning, answer) of a generated reply, as the server's message gives them: reasoning None when the prompt
    opened no think block, answer None when the reply never left it."""
    text = IncrementalText(codec, reasoning=reasoning)
    for token in tokens:
        text.push(token)
    text.finish()
    message = choice_text(text, chat=True)["message"]
    return message["reasoning"], message["content"]


def chat_hint(codec: ChatCodec | None, prompt: str) -> str | None:
    """A one-line hint for a plain --prompt to a folder with its own chat template, unless the prompt is already in
    the template's format (it opens with the token a rendered conversation opens with, `<|im_start|>` in ChatML)."""
    if codec is None or codec.template_source != "the folder":
        return None
    try:
        start = codec.find_special_token(codec.render([{"role": "user", "content": "Hi"}]))
    except ValueError:  # a template refusing even this: no format to point to
        return None
    if start is None or prompt.lstrip().startswith(start):
        return None
    return ("axk1 generate: note: this folder has a chat template: add --chat to ask it as a chat (--prompt is "
            "fed to the model as raw text)")
