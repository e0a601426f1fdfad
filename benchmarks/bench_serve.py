"""Load test of `axk1 serve`: N concurrent streaming chat clients for a bounded time.

A real server process is started on a free loopback port over a model folder (default: a fresh axk1-tiny or
axk1-mini with a small trained tokenizer and the chat template); each client sends streaming chat requests
back to back (fixed length: ignore_eos) until the time is up. Reports failed requests, throughput (generated
tokens/s, requests/s), p50/p99 request latency and time to first token (to the first chunk with text: before
issue 17 it was taken at the chat stream's opening role chunk, sent before any token), and the mean decode batch
the server reached (from its /metrics).

--long-prompt adds one client that sends prompts filling the whole served context (random token ids, a new
prompt each time, so no prefix is shared) back to back, while the others keep sending short chats, and a probe
sending a 1-token completion of a 20-token prompt every second (its latency is the time to first token, exactly):
these then show whether a long prefill stalls everyone (they start 2 s after it, so as to arrive while a
long prompt is being prefilled). The report adds the latent cache held per running
sequence (sampled from /metrics while the load runs; servers without that metric report null) and the server's
peak resident memory (VmHWM). --yarn F serves the preset extended F x with YaRN, as the released config does.

    python benchmarks/bench_serve.py [--clients 32] [--seconds 60] [--max-tokens 32] [--preset axk1-tiny]
                                     [--model-dir DIR] [--threads 2] [--json out.json] [--max-model-len 1024]
                                     [--long-prompt] [--yarn 4] [--server-arg=--prefill-chunk=256 ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import openai
import torch

import axk1
from axk1.text.tokenizer_file import write_tokenizer_files
from tests.serve_helpers import ServerProcess, train_tokenizer

try:  # absent from the commits before issue 17: the before/after runs share this script
    from tests.serve_helpers import yarn_extended
except ImportError:
    yarn_extended = None

QUESTIONS = ["서울은 어떤 도시인가요?", "What is two plus two?", "한강에 대해 알려 주세요.", "Explain a triangle.",
             "대한민국의 수도는?", "Write a function that adds two numbers."]


def _model_folder(preset: str, where: Path, yarn: float | None = None) -> Path:
    config = axk1.ModelConfig.from_preset(preset)
    if yarn:
        config = yarn_extended(config, yarn)
    torch.manual_seed(0)
    axk1.save_pretrained(axk1.AXK1ForCausalLM(config), where)
    write_tokenizer_files(where, train_tokenizer(min(config.vocab_size, 512)).to_str())
    return where


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


async def _client(i: int, client: openai.AsyncOpenAI, model: str, deadline: float, max_tokens: int, out: dict,
                  start_after: float = 0.0, extra_body: dict | None = None) -> None:
    await asyncio.sleep(start_after)
    k = 0
    while time.monotonic() < deadline:
        start, first, tokens = time.monotonic(), None, 0
        try:
            stream = await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": QUESTIONS[(i + k) % len(QUESTIONS)]}],
                max_tokens=max_tokens, temperature=0.6, top_p=0.95, seed=i * 1000 + k, stream=True,
                stream_options={"include_usage": True}, extra_body={"ignore_eos": True, **(extra_body or {})})
            async for chunk in stream:
                # The first chunk carrying text, not the role chunk a chat stream opens with before any token.
                delta = chunk.choices[0].delta if chunk.choices else None
                if first is None and delta is not None and (delta.content or getattr(delta, "reasoning_content", None)):
                    first = time.monotonic()
                if chunk.usage is not None:
                    tokens = chunk.usage.completion_tokens
            out["latency"].append(time.monotonic() - start)
            out["ttft"].append((first or time.monotonic()) - start)
            out["tokens"] += tokens
            out["ok"] += 1
        except Exception as e:  # counted, and the client carries on
            out["failed"] += 1
            out["errors"].append(f"{type(e).__name__}: {e}")
        k += 1


async def _long_client(client: openai.AsyncOpenAI, model: str, deadline: float, prompt_len: int, out: dict) -> None:
    """Prompts of prompt_len random token ids, 4 tokens each, back to back until the deadline."""
    gen = torch.Generator().manual_seed(1234)
    while time.monotonic() < deadline:
        prompt = torch.randint(3, 500, (prompt_len,), generator=gen).tolist()
        start = time.monotonic()
        try:
            await client.completions.create(model=model, prompt=prompt, max_tokens=4, temperature=0,
                                            extra_body={"ignore_eos": True})
            out["long_latency"].append(time.monotonic() - start)
        except Exception as e:
            out["failed"] += 1
            out["errors"].append(f"long: {type(e).__name__}: {e}")


async def _probe_client(client: openai.AsyncOpenAI, model: str, deadline: float, out: dict) -> None:
    """Time to first token, exactly: a 1-token completion of a short prompt (20 token ids) sent every second,
    whether or not the last one has come back (open loop: a client that waited would send fewer probes into a
    stall and hide it). A stream's first text can lag its first token (a random model's byte tokens are held back
    until they decode), so the chats' own ttft is the time to first text."""
    gen = torch.Generator().manual_seed(99)

    async def probe(prompt: list[int]) -> None:
        start = time.monotonic()
        try:
            await client.completions.create(model=model, prompt=prompt, max_tokens=1, temperature=0)
            out["probe_ttft"].append(time.monotonic() - start)
        except Exception as e:
            out["failed"] += 1
            out["errors"].append(f"probe: {type(e).__name__}: {e}")

    await asyncio.sleep(2.0)  # after the long client's first prompt is in (--max-batch leaves 16 rows for probes)
    sent = []
    while time.monotonic() < deadline:
        sent.append(asyncio.create_task(probe(torch.randint(3, 500, (20,), generator=gen).tolist())))
        await asyncio.sleep(1.0)
    await asyncio.gather(*sent)


async def _sample_cache(base: str, deadline: float, out: dict) -> None:
    """Latent cache held per running sequence, from /metrics every 0.25 s."""
    def read() -> str:
        with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
            return r.read().decode()

    while time.monotonic() < deadline:
        text = await asyncio.to_thread(read)
        values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
        running = float(values.get("axk1_num_requests_running", 0))
        if "axk1_cache_used_bytes" in values and running:
            out["cache_per_running"].append(float(values["axk1_cache_used_bytes"]) / running)
        await asyncio.sleep(0.25)


async def _load(base: str, model: str, clients: int, seconds: float, max_tokens: int,
                long_prompt_len: int = 0, extra_body: dict | None = None) -> dict:
    """extra_body: more fields for every chat request (benchmarks/bench_guided.py: a structured-output constraint)."""
    out = {"latency": [], "ttft": [], "tokens": 0, "ok": 0, "failed": 0, "errors": [], "long_latency": [],
           "cache_per_running": [], "probe_ttft": []}
    client = openai.AsyncOpenAI(base_url=base + "/v1", api_key="bench", timeout=1800, max_retries=0)
    start = time.monotonic()
    # With a long client, the short ones start a little later, so that they arrive while a long prompt is in.
    delay = 2.0 if long_prompt_len else 0.0
    tasks = [_client(i, client, model, start + seconds, max_tokens, out, delay, extra_body) for i in range(clients)]
    if long_prompt_len:
        tasks.append(_long_client(client, model, start + seconds, long_prompt_len, out))
        tasks.append(_probe_client(client, model, start + seconds, out))
    tasks.append(_sample_cache(base, start + seconds, out))
    await asyncio.gather(*tasks)
    out["wall_s"] = time.monotonic() - start
    await client.close()
    return out


def _peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0, help="clients start new requests until then")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--preset", default="axk1-tiny")
    parser.add_argument("--model-dir", type=Path, default=None, help="serve this folder instead of a fresh preset")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the server")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--max-model-len", type=int, default=1024, help="context served; 0: the model's own")
    parser.add_argument("--long-prompt", action="store_true",
                        help="one more client sending prompts of the whole context back to back")
    parser.add_argument("--yarn", type=float, default=None, help="extend the preset's context this many times")
    parser.add_argument("--server-arg", action="append", default=[], help="passed on to axk1 serve (repeatable)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.model_dir or _model_folder(args.preset, Path(tmp) / args.preset, args.yarn)
        context = args.max_model_len or axk1.ModelConfig.from_pretrained(folder).max_position_embeddings
        with ServerProcess(folder, "--max-batch", str(args.clients + 17 * args.long_prompt), "--threads",
                           str(args.threads), "--max-model-len", str(context), *args.server_arg,
                           timeout=300) as server:
            result = asyncio.run(_load(server.base, folder.name, args.clients, args.seconds, args.max_tokens,
                                       context - 4 if args.long_prompt else 0))
            metrics = server.metrics()
            peak_rss = _peak_rss_mib(server.proc.pid)
    steps = metrics.get("axk1_decode_steps_total", 0)
    report = {
        "model": args.preset if args.model_dir is None else str(args.model_dir), "clients": args.clients,
        "seconds": round(result["wall_s"], 1), "max_tokens": args.max_tokens, "server_threads": args.threads,
        "requests_ok": result["ok"], "requests_failed": result["failed"],
        "generated_tokens_per_s": round(result["tokens"] / result["wall_s"], 1),
        "requests_per_s": round(result["ok"] / result["wall_s"], 2),
        "latency_p50_s": round(_percentile(result["latency"], 50), 3),
        "latency_p99_s": round(_percentile(result["latency"], 99), 3),
        "ttft_p50_s": round(_percentile(result["ttft"], 50), 3),
        "ttft_p99_s": round(_percentile(result["ttft"], 99), 3),
        "mean_decode_batch": round(metrics.get("axk1_decode_rows_total", 0) / steps, 1) if steps else 0,
        "latency_mean_s": round(statistics.fmean(result["latency"]), 3) if result["latency"] else None,
        "context": context, "long_prompt_tokens": context - 4 if args.long_prompt else 0,
        "long_requests_ok": len(result["long_latency"]),
        "probe_requests_ok": len(result["probe_ttft"]),
        "probe_ttft_p50_s": round(_percentile(result["probe_ttft"], 50), 3) if result["probe_ttft"] else None,
        "probe_ttft_p99_s": round(_percentile(result["probe_ttft"], 99), 3) if result["probe_ttft"] else None,
        "long_latency_p50_s": round(_percentile(result["long_latency"], 50), 2) if result["long_latency"] else None,
        "cache_kib_per_running_sequence": (round(statistics.fmean(result["cache_per_running"]) / 1024, 1)
                                           if result["cache_per_running"] else None),
        "server_peak_rss_mib": peak_rss, "server_args": args.server_arg,
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
        "first_errors": result["errors"][:3],
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    if result["failed"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
