"""The teacher: any OpenAI-compatible server (`axk1 serve`, vLLM, a hosted API), with a response cache.

The cache is a SQLite file keyed by a hash of everything that decides the reply (model, messages, sampling,
seed, thinking). Each reply is committed as soon as it arrives, so an interrupted run resumes where it stopped
and a rerun asks nothing already answered. Only a reply that is text is stored (`checked`), not an empty one
(`worth_caching`), and [teacher] max_reply_chars is not in the key: it is applied on each read (`capped`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from axk1.json_text import json_digest, reply_text
from axk1.synth.recipe import TeacherConfig
from axk1.text.reasoning import split_reasoning
from axk1.text.tokenizer_file import THINK_CLOSE, THINK_OPEN


TEACHER = "the teacher's reply"  # how a refused reply field is named (json_text.reply_text)


@dataclass
class TeacherReply:
    content: str
    reasoning: str | None
    finish_reason: str | None
    usage: dict[str, int]
    full_chars: int | None = None  # the reply's length when it was over [teacher] max_reply_chars and stored cut


def checked(reply: TeacherReply) -> TeacherReply:
    """`reply` if every field is what a sample can be made of, else ValueError naming the field."""
    # json_text.reply_text: the rule eval's openai backend reads replies by. A refused reply is never cached, so the
    # request is asked again on the next run.
    content = reply_text(reply.content, "content", TEACHER) or ""
    reasoning = reply_text(reply.reasoning, "reasoning", TEACHER)
    finish = reply_text(reply.finish_reason, "finish_reason", TEACHER)
    return TeacherReply(content, reasoning, finish, reply.usage, reply.full_chars)


def capped(reply: TeacherReply, cap: int) -> TeacherReply | None:
    """`reply` under today's [teacher] max_reply_chars: over it, cut, with its full length kept (the sample is
    rejected for it); None when it was stored cut under a lower cap than today's, so it must be asked again. Applied
    on every read, so a warm cache and a fresh one decide alike whatever the cap was when the reply arrived."""
    stored = max(len(reply.content), len(reply.reasoning or ""))
    if reply.full_chars is not None and cap > stored:
        return None
    full = reply.full_chars if reply.full_chars is not None else stored
    if full <= cap:
        return reply
    return TeacherReply(reply.content[:cap], reply.reasoning[:cap] if reply.reasoning else reply.reasoning,
                        reply.finish_reason, reply.usage, full)


AGAIN = "nothing to keep; the request is asked again on the next run"


def reply_from_body(content_type: str, body: bytes) -> TeacherReply:
    """The reply in a teacher's 200 body (a chat completion), or ValueError saying what the body was instead: not
    JSON (an HTML error page from a proxy, a stream of server-sent events, a body cut short), an `error` object
    (its message passed on), or a completion without choices."""
    what = (f"the teacher's body (Content-Type {content_type or 'not given'}, {len(body)} bytes, starting "
            f"{body[:160]!r})")
    try:
        data = json.loads(body)
    except ValueError as e:  # UnicodeDecodeError included
        stream = content_type.startswith("text/event-stream") or body.lstrip().startswith(b"data:")
        why = (": a stream of server-sent events, though the request asked for none (a proxy or server that "
               "streams every reply?)" if stream else f" ({e})")
        raise ValueError(f"{what} is not a JSON chat completion{why}: {AGAIN}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{what} is JSON but not an object: {AGAIN}")
    if not data.get("choices"):
        error = data.get("error")
        if error:  # a 200 that is an error (an overloaded model): its message is the reason
            message = error.get("message", error) if isinstance(error, dict) else error
            raise ValueError(f"the teacher answered with an error in its body: {message}; {AGAIN}")
        # a 200 some servers send for a request they dropped (an IndexError before)
        raise ValueError(f"the teacher's reply has no choices (an empty 'choices' list): {AGAIN}")
    choice = data["choices"][0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise ValueError(f"{what} has no message object in choices[0]: {AGAIN}")
    reasoning = message.get("reasoning_content") or message.get("reasoning")  # vLLM's name, and the newer one
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
    usage = {k: usage.get(k) for k in ("prompt_tokens", "completion_tokens")} if usage else {}
    return checked(TeacherReply(message.get("content"), reasoning, choice.get("finish_reason"), usage))


def inline_reasoning(reply: TeacherReply) -> TeacherReply:
    """A reply whose content holds its reasoning inline (`<think>trace</think>answer`, or R1's `trace</think>answer`:
    an R1-style server run without a reasoning parser) as its trace and its answer, split by evaluation's rule
    (axk1/text/reasoning.py; for one `</think>` the SFT reader's too). Such a reply was rejected as a special token.
    A think block that never ends leaves no answer: the content is then empty. Unchanged when the server split it
    already (a reasoning field) or there is no think tag to split at."""
    content = reply.content
    if reply.reasoning is not None or not (THINK_CLOSE in content or content.lstrip().startswith(THINK_OPEN)):
        return reply
    split = split_reasoning(content)
    return TeacherReply(split.answer or "", split.reasoning or None, reply.finish_reason, reply.usage,
                        reply.full_chars)


def worth_caching(reply: TeacherReply) -> bool:
    """Whether a reply is stored. An empty one (no content; perhaps a trace alone) is a server's hiccup or a lost
    answer more than the teacher's answer: it is rejected in this run and asked again on the next. One the teacher
    stopped at max_tokens is stored: asking again with the same budget would cut it again, and a new budget is a new
    cache key."""
    return bool(inline_reasoning(reply).content.strip()) or reply.finish_reason == "length"


def ends_the_run(error: Exception) -> bool:
    """A 404: the server serves no such model (--teacher-model, [teacher] model) or no such endpoint (--teacher):
    every other request would get the same, so none more is sent."""
    import openai

    return isinstance(error, openai.NotFoundError)


class ResponseCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise ValueError(f"cache {self.path} is a folder: give a file path for the response cache (--cache)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path)
            self.db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL)")
            # The model a server listed, so a fully cached rerun needs not even a model listing.
            self.db.execute("CREATE TABLE IF NOT EXISTS models (url TEXT PRIMARY KEY, model TEXT NOT NULL)")
            self.db.commit()
        except sqlite3.Error as e:  # e.g. "file is not a database": some other file given as --cache
            raise ValueError(f"cache {self.path} is not a synth response cache (SQLite: {e}): give a new path "
                             "with --cache, or remove the file if it is a broken cache") from None

    def remembered_model(self, url: str) -> str | None:
        row = self.db.execute("SELECT model FROM models WHERE url = ?", (url,)).fetchone()
        return row[0] if row else None

    def remember_model(self, url: str, model: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO models VALUES (?, ?)", (url, model))
        self.db.commit()

    @staticmethod
    def key(request: dict[str, Any]) -> str:
        return json_digest(request)

    def get(self, key: str) -> TeacherReply | None:
        """The stored reply as `checked` reads it (content lists an older version stored are joined), or None, also
        for one that is not text: it is then asked again instead of failing every rerun."""
        row = self.db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        if not row:
            return None
        try:
            return checked(TeacherReply(**json.loads(row[0])))
        except (TypeError, ValueError):
            return None

    def put(self, key: str, reply: TeacherReply) -> None:
        self.db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?)", (key, json.dumps(reply.__dict__, ensure_ascii=False)))
        self.db.commit()

    def close(self) -> None:
        self.db.close()


class Teacher:
    def __init__(self, base_url: str, spec: TeacherConfig, api_key: str | None = None) -> None:
        import openai

        self.base_url, self.spec = base_url, spec
        self.client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key or "none", timeout=spec.timeout_s,
                                         max_retries=spec.retries)
        self.model = spec.model

    async def resolve_model(self) -> str:
        """The recipe's model, or the first one the server lists."""
        if not self.model:
            import openai

            async def listing():
                return [m.id async for m in self.client.models.list()]

            try:
                models = await asyncio.wait_for(listing(), self.deadline_s)
            except asyncio.TimeoutError:
                raise ValueError(f"the teacher at {self.base_url} did not list its models within "
                                 f"{self.deadline_s:g}s") from None
            except openai.APIError as e:
                raise ValueError(f"cannot list the teacher's models at {self.base_url}: {e}") from None
            if not models:
                raise ValueError(f"the teacher at {self.base_url} lists no models: set [teacher] model in the recipe")
            self.model = models[0]
        return self.model

    def request(self, prompt: str, seed: int, thinking: bool) -> dict[str, Any]:
        """The full request: also the cache key's contents. chat_template_kwargs is a vLLM / `axk1 serve` field
        that a hosted API may refuse, so it is sent only when asked for: by a thinking task, or on every request
        with [teacher] thinking_control = true (to turn thinking off on a hybrid model)."""
        request = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                   "temperature": self.spec.temperature, "top_p": self.spec.top_p, "max_tokens": self.spec.max_tokens,
                   "seed": seed}
        if thinking or self.spec.thinking_control:
            request["chat_template_kwargs"] = {"enable_thinking": thinking}
        return request

    @property
    def deadline_s(self) -> float:
        """The whole request, every retry included. The client's timeout is per read, so a server that trickles a
        byte at a time would otherwise hold a request (and the run) forever."""
        return self.spec.timeout_s * (self.spec.retries + 1)

    async def ask(self, request: dict[str, Any]) -> TeacherReply:
        body = dict(request)
        extra = {"chat_template_kwargs": body.pop("chat_template_kwargs")} if "chat_template_kwargs" in body else None
        try:
            r = await asyncio.wait_for(self.client.chat.completions.with_raw_response.create(**body, extra_body=extra),
                                       self.deadline_s)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no complete reply within {self.deadline_s:g}s ([teacher] timeout_s × (retries + 1))"
                               ) from None
        # the raw body: the client hands a body that is not JSON back as a string (which failed as "'str' object
        # has no attribute 'choices'"), and a 200 carrying an error object as a reply without choices
        reply = reply_from_body(r.headers.get("content-type", ""), r.content)
        # Over the cap: kept only cut (the sample is rejected for it), so a runaway reply costs no gigabytes twice.
        return capped(reply, self.spec.max_reply_chars)

    async def close(self) -> None:
        await self.client.close()


async def bounded(limit: int, jobs: Iterable[Callable[[], Awaitable]]):
    """Run coroutine factories with at most `limit` in flight; yield results as they complete. A task is made only
    when a slot frees: made all up front, 200,000 pending requests held 264 MB before the first reply."""
    jobs = iter(jobs)
    pending = {asyncio.ensure_future(job()) for job in itertools.islice(jobs, limit)}
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                job = next(jobs, None)
                if job is not None:
                    pending.add(asyncio.ensure_future(job()))
                yield task.result()
    finally:
        for task in pending:
            task.cancel()
