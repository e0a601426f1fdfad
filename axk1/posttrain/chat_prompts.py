"""The generation prompts of one conversation's assistant turns, rendered in time linear in its length where the chat
template allows, for SFT (chat_data.render_examples).

Each turn trains as its own example whose prompt is the conversation before it (chat_data's docstring), and
rendering every prefix anew re-rendered the whole history for every turn: 800 turns took 27 s. Most templates
render a message the same wherever the history ends, so the history is rendered once and each turn's prompt is a
prefix of it with the generation prompt after. A template is only a program, though (it may render a message by
whether it is the last, or list the tools after the history), so the shortcut is taken only when it checks out on
the row itself: each message's text, found by rendering it after the one before it alone, must join into the whole
history exactly, and the first and last turns' prompts so built must equal the template's own. Otherwise every
prompt is rendered in full, as before: slower, never different.
"""

from __future__ import annotations

from axk1.infer.chat import ChatCodec, message_text
from axk1.text.think_prompt import in_mode

# The turns from which the linear rendering is tried. Its check costs about four renders of a message or two a turn,
# where rendering each prompt in full costs one render of the whole history a turn: below ~16 turns the full renders
# were the cheaper (benchmarks/RESULTS.md, "SFT chat loading"), and most rows of an SFT set have a few turns, which
# paid for the check (3-4 turns: 3x the renders) and gained nothing.
LINEAR_FROM = 16


def history_message(message: dict, answer: str) -> dict:
    """A message as the history of later turns holds it: an assistant's answer (and calls), its reasoning dropped, as
    templates render earlier turns."""
    if message["role"] != "assistant":
        return message
    return {"role": "assistant", "content": answer, **({"tool_calls": message["tool_calls"]}
                                                        if message.get("tool_calls") else {})}


class TurnPrompts:
    """`prompt(i, thinking)`: the generation prompt before messages[i] (chat_data.prompt_text's, exactly). `answers`:
    each message's text as the template writes it in the history (an assistant's answer without its reasoning);
    `turns`: the indices whose prompts will be asked for, only those the linear rendering covers."""

    def __init__(self, codec: ChatCodec, messages: list[dict], answers: list[str], turns: list[int],
                 tools: list[dict] | None) -> None:
        self.codec, self.turns = codec, turns
        self.history = [history_message(m, a) for m, a in zip(messages, answers)]
        self.extra = {"tools": tools} if tools else {}  # only when some: a template may test `tools is defined`
        self.plans: dict[bool, tuple[str, dict[int, int], dict[int, str]] | None] = {}  # thinking -> (history,
        # where each turn's prompt ends in it, the text each turn's generation prompt adds)

    def render(self, messages: list[dict], generation: bool, thinking: bool) -> str:
        return self.codec.render_history(messages, generation, enable_thinking=thinking, **self.extra)

    def exact(self, i: int, thinking: bool) -> str:
        """The prompt rendered from the whole history before turn i (chat_data.prompt_text)."""
        return in_mode(self.render(self.history[:i], True, thinking), thinking)

    def prompt(self, i: int, thinking: bool) -> str:
        if thinking not in self.plans:
            self.plans[thinking] = self._plan(thinking) if len(self.turns) >= LINEAR_FROM else None
        plan = self.plans[thinking]
        if plan is None or i not in plan[1]:
            return self.exact(i, thinking)
        text, offsets, suffixes = plan
        return in_mode(text[:offsets[i]] + suffixes[i], thinking)

    def _suffix(self, turn: int, thinking: bool) -> str | None:
        """The text the generation prompt adds after the message before `turn`, from that message rendered alone
        with and without it: a template may add another after a tool's output than after a user's turn (DeepSeek
        V3/R1's close the tool outputs and write no assistant tag), so each turn has its own (a third review)."""
        window = self.history[turn - 1:turn]
        bare, prompted = self.render(window, False, thinking), self.render(window, True, thinking)
        return prompted[len(bare):] if prompted.startswith(bare) else None

    def _plan(self, thinking: bool) -> tuple[str, dict[int, int], dict[int, str]] | None:
        """The history before the last turn rendered once, where each turn's prompt ends in it, and the text each
        turn's generation prompt adds; None when the template does not render so for this row."""
        turns = sorted(self.turns)
        try:
            pieces = [self.render(self.history[:turns[0]], False, thinking)]
            offsets = {turns[0]: len(pieces[0])}
            for turn, following in zip(turns, turns[1:]):
                # the messages from this turn to the next, rendered after the one before this turn alone, less
                # that one's text: both renders end where a prompt does (just before a trained turn), so a
                # template that renders the last message otherwise does here as in the prompts
                start = max(turn - 1, 0)
                before = self.render(self.history[start:turn], False, thinking) if turn else ""
                both = self.render(self.history[start:following], False, thinking)
                if not both.startswith(before):
                    return None
                pieces.append(both[len(before):])
                offsets[following] = offsets[turn] + len(pieces[-1])
            text = self.render(self.history[:turns[-1]], False, thinking)
            suffixes = {turn: self._suffix(turn, thinking) if turn else None for turn in turns}
        except (ValueError, TypeError):  # a template refusing a window (a conversation must start with a user turn)
            return None
        if "".join(pieces) != text or None in suffixes.values():
            return None
        plan = (text, offsets, suffixes)
        for i in (turns[0], turns[-1]):  # the ends checked against the template's own prompt
            if in_mode(text[:offsets[i]] + suffixes[i], thinking) != self.exact(i, thinking):
                return None
        return plan


def history_chars(messages: list[dict], answers: list[str]) -> list[int]:
    """chars[i]: the characters of messages[:i] as the template writes them at least (an assistant's answer alone),
    for the over-long check before any render."""
    chars = [0]
    for m, a in zip(messages, answers):
        chars.append(chars[-1] + len(a if m["role"] == "assistant" else message_text(m.get("content"))))
    return chars
