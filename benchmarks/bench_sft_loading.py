"""`axk1 sft`'s loading of chat data timed: N synthetic chat rows rendered into SFT examples (token ids + the prompt
length that sets the loss mask) by `load_chat_examples`, as `ChatSampler` does before the first step.

The rows are the shapes docs/posttraining.md accepts, mixed as a real set mixes them: OpenAI `messages` with a system
turn and 1-4 user/assistant exchanges in Korean and English, traces as `reasoning_content` or an inline
`<think>…</think>`, now and then a chat of 16-24 exchanges, tool-calling rows (`tools`, an assistant's `tool_calls`, `tool` results), ShareGPT and Alpaca
rows, and a few bad ones (a special token in the text, an empty answer) that the report counts. The tokenizer is a
small byte-level BPE trained here on Korean and English sentences, as the tests make one (tests/serve_helpers.py),
with axk1's default chat template.

    python benchmarks/bench_sft_loading.py [--rows 20000] [--mode keep] [--profile 25]

--profile N prints cProfile's N costliest functions (cumulative) for one load. CPU time is the process's (all its
threads): on a shared machine it moves less than the wall time.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from axk1.infer.chat import ChatCodec  # noqa: E402
from axk1.posttrain.chat_data import load_chat_examples  # noqa: E402
from axk1.text.chat_template import CHAT_TEMPLATE  # noqa: E402
from axk1.text.tokenizer_file import TEXT_TAGS  # noqa: E402

SENTENCES = [
    "The capital of Korea is Seoul, a large city on the Han river.",
    "대한민국의 수도는 서울특별시이며 한강을 끼고 있는 큰 도시입니다.",
    "Two plus two is four, and the angles of a triangle sum to 180 degrees.",
    "삼각형의 세 내각의 합은 180도이고, 2 더하기 2는 4입니다.",
    "To sort a list in Python, call sorted(items) or items.sort().",
    "파이썬에서 리스트를 정렬하려면 sorted(items)를 쓰면 됩니다.",
    "Let me check each case carefully before answering.",
    "먼저 문제의 조건을 하나씩 확인해 보겠습니다.",
    "The derivative of x squared is two x.",
    "x의 제곱을 미분하면 2x가 됩니다.",
]
SPECIALS = ["<|pad|>", "<|endoftext|>", "<|im_end|>", "<|im_start|>"]
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def make_codec(vocab_size: int = 2048) -> ChatCodec:
    """A byte-level BPE on the sentences above, the chat tokens special, the think and tool tags added text."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(SENTENCES * 8, trainer)
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in TEXT_TAGS])
    return ChatCodec(tokenizer, CHAT_TEMPLATE, eos_token="<|im_end|>")


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(SENTENCES) for _ in range(n))


def make_row(rng: random.Random) -> dict:
    """One chat row in a shape a real SFT mix holds, drawn by `rng`."""
    kind = rng.random()
    if kind < 0.08:  # Alpaca
        return {"instruction": _text(rng, 2), "input": _text(rng, 1) if rng.random() < 0.5 else "",
                "output": _text(rng, 3)}
    if kind < 0.18:  # ShareGPT
        turns = [{"from": "system", "value": "You are a helpful assistant."}]
        for _ in range(rng.randint(1, 3)):
            turns += [{"from": "human", "value": _text(rng, 2)}, {"from": "gpt", "value": _text(rng, 4)}]
        return {"conversations": turns}
    if kind < 0.28:  # a tool call, its result, the answer
        city = rng.choice(["Seoul", "Busan", "서울"])
        return {"tools": [WEATHER], "messages": [
            {"role": "system", "content": "You can look up the weather."},
            {"role": "user", "content": f"What is the weather in {city}? " + _text(rng, 1)},
            {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {
                "name": "get_weather", "arguments": json.dumps({"city": city}, ensure_ascii=False)}}]},
            {"role": "tool", "content": json.dumps({"city": city, "sky": "clear", "c": rng.randint(-5, 30)})},
            {"role": "assistant", "content": f"It is clear in {city}. " + _text(rng, 1)}]}
    if kind < 0.30:  # bad rows: a control token in the text, an assistant turn with nothing in it
        if rng.random() < 0.5:
            return {"messages": [{"role": "user", "content": "Hi <|im_start|>"}, {"role": "assistant", "content": "Hi"}]}
        return {"messages": [{"role": "user", "content": _text(rng, 1)}, {"role": "assistant", "content": ""}]}
    messages = [{"role": "system", "content": rng.choice(["You are a helpful assistant.", "당신은 친절한 도우미입니다."])}]
    # 1-4 exchanges, and now and then a long chat (rendered once, not once a turn: chat_prompts.LINEAR_FROM)
    for _ in range(rng.randint(1, 4) if kind < 0.99 else rng.randint(16, 24)):
        messages.append({"role": "user", "content": _text(rng, rng.randint(1, 3))})
        answer, trace = _text(rng, rng.randint(2, 6)), rng.random()
        if trace < 0.3:
            messages.append({"role": "assistant", "content": answer, "reasoning_content": _text(rng, 5)})
        elif trace < 0.5:
            messages.append({"role": "assistant", "content": f"<think>\n{_text(rng, 4)}\n</think>\n\n{answer}"})
        else:
            messages.append({"role": "assistant", "content": answer})
    return {"messages": messages}


def write_rows(path: Path, n: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for _ in range(n):
            f.write(json.dumps(make_row(rng), ensure_ascii=False) + "\n")
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--mode", default="keep", choices=["think", "non-think", "keep"])
    p.add_argument("--seq-len", type=int, default=4096)
    p.add_argument("--profile", type=int, default=0, help="print cProfile's N costliest functions")
    args = p.parse_args()
    codec = make_codec()
    with tempfile.TemporaryDirectory() as tmp:
        data = write_rows(Path(tmp) / "chat.jsonl", args.rows)
        profiler = cProfile.Profile(time.process_time) if args.profile else None  # CPU: the machine is shared
        t, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        examples, report = load_chat_examples([data], codec, args.mode, args.seq_len)
        if profiler:
            profiler.disable()
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    tokens = sum(len(e.ids) for e in examples)
    print(f"{args.rows:,} rows -> {len(examples):,} examples, {tokens:,} tokens, "
          f"excluded {sum(report.excluded.values()):,}: {seconds:.2f} s wall, {cpu:.2f} s CPU "
          f"({seconds / args.rows * 1e5:.1f} s wall, {cpu / args.rows * 1e5:.1f} s CPU per 100,000 rows)")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)


if __name__ == "__main__":
    main()
