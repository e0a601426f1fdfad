"""Guided decoding (structured outputs) in the engine, with llguidance (Microsoft's constrained-decoding library,
vLLM's "guidance" backend): at each sampling step a constrained choice's logits are masked to the tokens its
grammar allows, and the token sampled is fed to its grammar's matcher.

The server compiles a request's grammar (axk1/infer/guided_request.py builds it from the request's fields) once,
before the request is queued: `Guide.compile` turns it into a `Constraint`, or a ValueError with llguidance's own
message. Each choice then gets its own matcher, a copy of the compiled one (`Constraint.start`), so the n choices of
a request follow the grammar apart. The engine calls two things: `mask_guided` on the logits of a step's rows
before it samples them, and `GuidedSequence.follow` with each token it emits. A token enters the matcher only
there, once, when it is sampled: a preempted choice recomputed from its tokens (axk1/infer/scheduler.py) replays
them through the model, never through its matcher.

The end of a reply: the model's end-of-turn and eos ids are allowed only where the grammar accepts (the tokenizer
is built with them as its eos set), and a choice whose grammar can take nothing more ends there ("stop").
Think mode: when the prompt leaves the model inside a think block, the constraint starts after the model's
`</think>` token (the reasoning is free), as vLLM starts it after its reasoning parser sees the end of reasoning.
A triggered constraint (strict tools under tool_choice "auto": axk1/infer/guided_request.py) leaves the reply free
until the model writes its trigger token (`<tool_call>`), follows the grammar from that token to the grammar's end
(the call's `</tool_call>`), and is free again after it, waiting for the next trigger.
Legend: R rows, V vocabulary, W 32-bit words of a row's bitmask, B its bytes.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import llguidance
import torch

# The most characters a grammar may have (a JSON schema as JSON text): compiling costs time
# with the grammar's size (llguidance: ~1.5 s for a 5,000-property schema, ~250,000 characters), spent before any
# other request can be told no; a larger schema is refused by name.
MAX_GRAMMAR_CHARS = 65_536

# llguidance's limits on one matcher, which bound the work of a step rather than the grammar's size (a 15-character
# regex "(a{1000}){300}" took 0.6-0.9 s for its first mask and ~110 ms for each later one with the defaults, on the
# engine thread, every other stream waiting). initial_lexer_fuel (default 1,000,000) bounds the regex automaton built
# before the first token: 50,000 keeps such a grammar's first mask under ~20 ms, and it then fails at its first token,
# which compile() tries; step_max_items (default 50,000) bounds the Earley items of a step: an ambiguous Lark grammar
# took seconds a step with the default, ~10 ms with 5,000. Measured on this project's 2-core CPU with a 65,536-token
# BPE: schemas of 300 properties, 40 formats (email, date-time), 1,000-value enums, 5,000-character strings ran
# 200-300 steps at ~1 ms a mask or less, a 1,900-option choice at ~4 ms (benchmarks/RESULTS.md, "Structured outputs").
# verbose_errors off: a failing matcher's message without its dump of parser state and grammar.
LIMITS = {"initial_lexer_fuel": 50_000, "step_max_items": 5_000, "verbose_errors": False}
# compile() computes a grammar's first mask, feeds it one allowed token and computes the next: a grammar whose
# matcher fails there is refused, and so is one whose trial costs more than this (a bound the limits above keep
# ordinary grammars far below: it catches a cost they let through, before the grammar reaches the engine thread).
# Counted in the compiling thread's CPU time, where llguidance computes these masks: by the wall clock a busy machine
# refused ordinary grammars (at a 163,840-token vocabulary, `{"type": "object"}` took 258-565 ms of wall clock
# under a load of 8 on 2 cores, ~1-2 ms of CPU). At that vocabulary the costliest ordinary grammar measured, a
# 1,900-option choice, spent ~28 ms of CPU in compile(), its first steps included: the budget is ~9 times that
# (benchmarks/RESULTS.md, "Structured outputs at A.X K1's vocabulary").
FIRST_STEPS_BUDGET_S = 0.25

_executor: llguidance.LLExecutor | None = None
_executor_lock = threading.Lock()


def _mask_executor() -> llguidance.LLExecutor:
    """One pool of llguidance's threads for every step's masks, made on first use."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = llguidance.LLExecutor()
        return _executor


class GuidedSequence:
    """One choice's matcher, and whether its constraint has started: think mode waits for `</think>`, and a
    triggered constraint (a strict tool's calls under tool_choice "auto") for its trigger token, the rest free."""

    def __init__(self, constraint: Constraint) -> None:
        self.constraint, self.guide = constraint, constraint.guide
        self.matcher = constraint.matcher.deep_copy()
        self.thinking = constraint.starts_after is not None
        # the token that starts the constraint; None: it has started
        self.waiting_for = constraint.starts_after if self.thinking else constraint.trigger

    @property
    def active(self) -> bool:
        return self.waiting_for is None

    def follow(self, token: int) -> tuple[str | None, ...] | None:
        """Feed an emitted token. None: go on; ("stop",): the grammar is complete and takes nothing more; ("error",
        message): the matcher failed (a grammar that passed compile() met a limit of llguidance's at this step, or
        a rule with no way out): that choice alone ends, finish_reason "error" (axk1/infer/choices.py). A triggered
        constraint's grammar begins with its trigger, which is fed to the matcher; once complete, the reply goes on
        free, and the next trigger starts a fresh copy of the grammar."""
        trigger = self.constraint.trigger
        if not self.active:
            if token != self.waiting_for:
                return None
            if self.thinking:  # `</think>`: the answer starts (and, triggered, waits for its trigger)
                self.thinking, self.waiting_for = False, trigger
                return None
            self.waiting_for = None
        if not self.matcher.consume_token(token):
            return "error", f"structured output: the grammar's matcher failed: {_first_lines(self.matcher.get_error())}"
        if not self.matcher.is_stopped():
            return None
        if trigger is None:
            return ("stop",)
        self.matcher, self.waiting_for = self.constraint.matcher.deep_copy(), trigger
        return None

    def ends_at(self, token: int) -> bool:
        """Whether `token` ends the reply as its grammar's end: an eos id, which the mask allows only where the
        grammar accepts (with ignore_eos too: the grammar decides the end of a constrained reply)."""
        return self.active and token in self.guide.eos_ids

    def drop_refused(self, words_W: torch.Tensor) -> None:
        """Fix a mask row (its packed 32-bit words) in place. llguidance (1.9.1) reads every added token of the
        tokenizer as special, and where a grammar forces the exact text of one (a regex `<think>`, or `<|im_end|>`:
        an eos id, on which the engine would end the reply with the grammar unfinished) its mask allows that token,
        which its matcher then refuses (the choice failed): such tokens leave the mask, and if nothing is left, the
        forced text's first piece spelt without added tokens is allowed instead."""
        specials = self.guide.specials
        for token in specials[_bit(words_W, specials)].tolist():
            if not self.matcher.validate_tokens([token]):
                _set_bit(words_W, token, False)
        if not words_W.any():
            forced = self.matcher.compute_ff_bytes().decode("utf-8", "ignore")
            pieces = self.guide.tokenizer.greedy_tokenize(forced) if forced else []
            if pieces:
                _set_bit(words_W, pieces[0], True)


@dataclass(frozen=True, eq=False)
class Constraint:
    """A request's compiled grammar; `starts_after`: the token the constraint waits for (think mode's `</think>`);
    `trigger`: the token that starts each stretch of it in an otherwise free reply (`<tool_call>` for strict tools
    under tool_choice "auto"), None: the whole reply (after `starts_after`) follows it."""

    matcher: llguidance.LLMatcher  # never advanced: each choice gets a copy
    guide: Guide
    starts_after: int | None = None
    kind: str = ""  # the request field it came from, for logs and errors
    trigger: int | None = None

    def start(self) -> GuidedSequence:
        return GuidedSequence(self)

    def waiting_for(self, token: int | None) -> Constraint:
        return replace(self, starts_after=token)

    def triggered_by(self, token: int) -> Constraint:
        return replace(self, trigger=token)


class Guide:
    """llguidance's view of the served tokenizer (built once per server: ~1 s for a large vocabulary) and the
    compiler of requests' grammars against it."""

    def __init__(self, tokenizer: Any, vocab_size: int, eos_ids: list[int], think_close: int | None) -> None:
        """tokenizer: the folder's `tokenizers.Tokenizer`; vocab_size: the model's (the logits' width, which may
        pass the tokenizer's: the ids past it are never allowed); eos_ids: the ids that end a reply (config.json's,
        generation_config.json's and the chat template's end of turn); think_close: the `</think>` token's id."""
        self.tokenizer = llguidance.LLTokenizer(tokenizer.to_str(), n_vocab=vocab_size, eos_token=sorted(eos_ids))
        self.vocab_size, self.think_close, self.eos_ids = vocab_size, think_close, frozenset(eos_ids)
        # the ids llguidance reads as special, and the eos set (see GuidedSequence.drop_refused), checked at every
        # step a mask allows one of them. Not the ids past the tokenizer (a model's vocabulary padded wider than its
        # tokenizer): llguidance reads them as special too, yet no grammar of text allows them, and with a 512-token
        # vocabulary's tokenizer under a 163,840-wide head they were 163,440 ids gathered from every row each step
        known = min(vocab_size, tokenizer.get_vocab_size())
        self.specials = torch.tensor(sorted({i for i in eos_ids if i < vocab_size}
                                            | {i for i in range(known) if self.tokenizer.is_special_token(i)}),
                                     dtype=torch.long)

    def literal(self, text: str) -> str:
        """`text` in a Lark grammar: `<text>`, llguidance's name of a special token, when the tokenizer has it as one
        added token (llguidance reads every added token as special, so a quoted "<tool_call>" never matches the
        `<tool_call>` token a model writes), else a quoted string."""
        return text if self.special_id(text) is not None else json.dumps(text)

    def special_id(self, text: str) -> int | None:
        """The id of `text` where the tokenizer has it as one added (special) token, else None."""
        ids = self.tokenizer.tokenize_str(text, parse_special=True)
        return ids[0] if len(ids) == 1 and self.tokenizer.is_special_token(ids[0]) else None

    def compile(self, grammar: str, kind: str) -> Constraint:
        """The Constraint of an llguidance grammar (guided_request.py builds them); ValueError with llguidance's
        message for a grammar it cannot use (a bad regex, schema or Lark rule, or one past its size limits)."""
        if len(grammar) > MAX_GRAMMAR_CHARS:
            raise ValueError(f"the {kind} constraint is {len(grammar):,} characters long; this server compiles at "
                             f"most {MAX_GRAMMAR_CHARS:,}")
        matcher = llguidance.LLMatcher(self.tokenizer, grammar, log_level=0,
                                       limits=llguidance.LLParserLimits(**LIMITS))
        if matcher.is_error():
            raise ValueError(f"invalid {kind}: {_first_lines(matcher.get_error())}")
        self._try_first_steps(matcher, kind)
        return Constraint(matcher, self, None, kind)

    def _try_first_steps(self, matcher: llguidance.LLMatcher, kind: str) -> None:
        """ValueError for a grammar whose first mask, first token or second mask fails (past llguidance's limits:
        LIMITS) or costs more CPU time than FIRST_STEPS_BUDGET_S; run on a copy, in the compiling worker thread, so that
        such a grammar is a 400 that costs the engine nothing. The token tried: the first the mask allows that is
        not special (nor an eos id: see GuidedSequence.drop_refused)."""
        trial, start = matcher.deep_copy(), time.thread_time()
        for _ in range(2):
            mask = torch.frombuffer(bytearray(trial.compute_bitmask()), dtype=torch.uint8)
            if trial.is_error() or trial.is_stopped():
                break
            allowed_V = _unpack(mask, self.vocab_size)
            allowed_V[self.specials] = False
            allowed = allowed_V.nonzero()[:1, 0].tolist()
            if not allowed or not trial.consume_token(allowed[0]):
                break
        if trial.is_error():
            raise ValueError(f"the {kind} constraint is past this server's limits for structured outputs at its "
                             f"first tokens ({_first_lines(trial.get_error(), 300)}): simplify it (fewer alternatives "
                             f"or optional properties, smaller repetition counts)")
        spent = time.thread_time() - start
        if spent > FIRST_STEPS_BUDGET_S:
            raise ValueError(f"the {kind} constraint took {spent * 1000:.0f} ms of CPU for its first tokens' masks; "
                             f"this server allows {FIRST_STEPS_BUDGET_S * 1000:.0f} ms (each step of a constrained "
                             f"reply holds every other stream): simplify it (smaller repetition counts, fewer "
                             f"alternatives)")


# llguidance's advice for a oneOf whose branches may overlap names an option of its own that no request can set
# (a client's `x-guidance` is refused: guided_request.py): say what the client can do instead
COERCE_ADVICE = "Enable 'coerce_one_of' option to approximate oneOf with anyOf"
ONE_OF_ADVICE = ("This server enforces oneOf only where its branches cannot overlap, and these may: use anyOf "
                 "instead, or make the branches exclusive (a distinct \"type\", or a \"const\" property each)")


def plain_message(text: str) -> str:
    """llguidance's message with advice a client can follow."""
    return text.replace(COERCE_ADVICE, ONE_OF_ADVICE)


def _first_lines(message: str, limit: int = 600) -> str:
    """llguidance's error without the grammar dump its verbose messages end with, within `limit` characters."""
    text = " ".join(line.strip() for line in message.replace("<non-verbose/>", "").strip().splitlines()[:6]
                    if line.strip())
    text = plain_message(text)
    return text if len(text) <= limit else text[:limit] + "..."


# each byte's 8 bits as 8 bool bytes, packed in one int64 (little-endian: bit k is byte k)
_BYTE_BITS = ((torch.arange(256)[:, None] >> torch.arange(8)) & 1).to(torch.uint8).contiguous().view(torch.int64)[:, 0]


def _unpack(words: torch.Tensor, V: int) -> torch.Tensor:
    """The bool rows [..., V] of bitmasks' words [..., W] (32-bit words, little-endian, as llguidance writes them;
    or their bytes): bit t of a row is token t. Unpacked on the device that holds the words, a byte at a time by
    table (one int64 of 8 bools each: 0.45 ms of CPU for 8 rows of 163,840 tokens, where shifting each bit out
    took 0.9-1.2 ms, in int32 or uint8): a row costs V bytes, and its int64 indices V more."""
    bytes_B = words.contiguous().view(torch.uint8)
    return _BYTE_BITS.to(words.device)[bytes_B.long()].view(torch.uint8).view(torch.bool)[..., :V]


def _bit(words: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Whether masks (words [..., W]) allow each of `tokens` ([..., len(tokens)]), read without unpacking them."""
    return ((words.view(torch.uint8)[..., tokens >> 3] >> (tokens & 7).to(torch.uint8)) & 1).bool()


def _set_bit(words_W: torch.Tensor, token: int, allowed: bool) -> None:
    """Allow or refuse one token in a row's packed mask, in place."""
    bytes_B = words_W.view(torch.uint8)
    bit = 1 << (token & 7)
    bytes_B[token >> 3] = (int(bytes_B[token >> 3]) | bit) if allowed else (int(bytes_B[token >> 3]) & ~bit & 0xFF)


def mask_guided(seqs: list[Any], logits_RV: torch.Tensor) -> None:
    """Set to -inf, in place, the logits of the tokens each constrained row's grammar does not allow now (rows
    whose constraint has not started, and free rows, are left as they are). Sampling then draws from the allowed
    tokens only, temperature, top-k and top-p applying among them. A row whose matcher failed in its mask (a limit
    of LIMITS met mid-reply), or that allows nothing, is left unmasked: its token then fails the matcher in
    GuidedSequence.follow, which ends that choice alone with the error."""
    rows = [(r, s.guide) for r, s in enumerate(seqs) if s.guide is not None and s.guide.active]
    if not rows:
        return
    V = logits_RV.shape[-1]
    W = (V + 31) // 32
    words_RW = torch.zeros(len(rows), W, dtype=torch.int32)
    # llguidance writes each row's mask straight into the tensor's memory (what llguidance.torch wraps; that module
    # is not imported: it compiles a kernel with torch.compile at import, seconds of start-up)
    _mask_executor().unsafe_compute_mask_ptr([(g.matcher, i) for i, (_, g) in enumerate(rows)],
                                             words_RW.data_ptr(), W * 4, len(rows))
    # the eos ids where a grammar accepts (one check each), the tool-call layout's tags, and grammars like
    # drop_refused's (one Guide per server: its specials), read and fixed in the packed words: a row is unpacked
    # once, on the logits' device (at a 163,840-token vocabulary each unpacked row is 160 KB, its words 20 KB)
    for i in _bit(words_RW, rows[0][1].guide.specials).any(dim=1).nonzero()[:, 0].tolist():
        rows[i][1].drop_refused(words_RW[i])
    empty_R = words_RW.eq(0).all(dim=1).tolist()
    for i, (_, g) in enumerate(rows):
        if g.matcher.is_error() or empty_R[i]:
            words_RW[i] = -1
    refused_RV = _unpack(~words_RW.to(logits_RV.device), V)
    if len(rows) == logits_RV.shape[0]:  # every row constrained (a JSON-only batch): masked where it lies
        logits_RV.masked_fill_(refused_RV, float("-inf"))
        return
    index = torch.tensor([r for r, _ in rows], device=logits_RV.device)
    logits_RV[index] = logits_RV[index].masked_fill(refused_RV, float("-inf"))
