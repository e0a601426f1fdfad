"""RL's rollout stage (the first three steps of an iteration of axk1/posttrain/rl.py): prompts drawn from the task
file, G samples per prompt on the rollout engine (the policy itself, the main rank's replica, or an inference
server), rewards from the graders with DAPO's overlong handling, and dynamic sampling's drop of groups without signal.
The main rank samples; every rank receives its samples.

`trainer` below is the RLTrainer (axk1/posttrain/rl.py), which holds the engine, the codec and the tasks.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch.distributed as dist

from axk1.infer.generate import generate
from axk1.posttrain.chat_data import prompt_text
from axk1.posttrain.rewards import score_all


def sample_prompts(trainer, iteration: int, round_: int) -> list[tuple[dict, bool, list[int]]]:
    """(task, thinking, prompt ids) for one sampling round: prompts_per_step / len(modes) tasks, each in every mode
    of [rl] modes, side by side (A.X K1: each instruction gets both the think and the non-think prompt); a pure
    function of (seed, iteration, round), so a resumed run draws the same prompts."""
    s = trainer.recipe.rl
    rng = np.random.default_rng((trainer.recipe.data.seed, iteration, round_))
    tasks = min(s.prompts_per_step // len(s.modes), len(trainer.tasks))  # the recipe checks that it divides
    out = []
    for k in rng.choice(len(trainer.tasks), size=tasks, replace=False).tolist():
        for mode in s.modes:
            thinking = mode == "think"
            text = prompt_text(trainer.codec, [{"role": "user", "content": trainer.tasks[k]["prompt"]}], thinking)
            out.append((trainer.tasks[k], thinking, trainer.codec.encode(text, add_special_tokens=False)))
    return out


def pool_warnings(tasks: list[dict], prompts_per_step: int, modes: list[str]) -> list[str]:
    """A task pool smaller than a step's draw: sample_prompts then draws every task, a smaller batch than asked
    (silently, before)."""
    per_step = prompts_per_step // len(modes)
    if per_step <= len(tasks):
        return []
    return [f"[rl] prompts_per_step = {prompts_per_step} draws {per_step} tasks a step (each in {len(modes)} mode(s)), "
            f"but the task files hold {len(tasks)}: every step draws all {len(tasks)}, {len(tasks) * len(modes)} "
            f"prompts, not {prompts_per_step}; give more tasks or lower prompts_per_step"]


def duplicates_note(tasks: list[dict]) -> str | None:
    """Tasks whose prompt is an exact copy of an earlier one's: each copy is a task of its own, so that prompt is
    drawn more often, which may be meant (a weighting) or not (a file concatenated twice)."""
    copies = len(tasks) - len({str(t["prompt"]) for t in tasks})
    if not copies:
        return None
    return (f"note: {copies} of the {len(tasks)} tasks repeat an earlier task's prompt exactly: each copy is drawn as "
            "a task of its own, so those prompts are sampled more often; remove the copies unless that is meant")


def rollout(trainer, iteration: int) -> tuple[list[dict], dict]:
    """Scored samples of the groups kept by dynamic sampling, and rollout stats (the same on every rank)."""
    box = [_generate_and_score(trainer, iteration) if trainer.is_main else None]
    if trainer.parallel is not None:
        dist.broadcast_object_list(box, src=0, group=trainer.rollout_group)
    return box[0]


def _generate_and_score(trainer, iteration: int) -> tuple[list[dict], dict]:
    s = trainer.recipe.rl
    kept, seen, stats = [], [], {"rollout_tokens": 0, "rollout_s": 0.0, "groups_dropped": 0, "rounds": 0}
    for round_ in range(s.max_sampling_rounds):
        prompts = sample_prompts(trainer, iteration, round_)
        t0 = time.perf_counter()
        seed = hash((trainer.recipe.data.seed, iteration, round_)) % (2 ** 31)
        if trainer.server is not None:
            result = trainer.server.generate([p for _, _, p in prompts], s.group_size, s.max_new_tokens,
                                             s.temperature, s.top_p, seed, trainer.stop_ids)
        else:
            # a bar on a terminal only: in a log file its \r frames pile up
            bar = trainer.recipe.logging.progress and sys.stderr.isatty()
            result = generate(trainer.engine.eval(), [p for _, _, p in prompts for _ in range(s.group_size)],
                              max_new_tokens=s.max_new_tokens, temperature=s.temperature, top_p=s.top_p,
                              stop_ids=trainer.stop_ids, seed=seed, pad_id=trainer.pad_id,
                              progress=f"rollout ({len(prompts) * s.group_size} completions)" if bar else None)
        stats["rollout_s"] += time.perf_counter() - t0
        stats["rollout_tokens"] += sum(len(t) for t in result.tokens)
        stats["rounds"] += 1
        items, samples = [], []
        for i, (tokens, reason) in enumerate(zip(result.tokens, result.finish_reasons)):
            task, thinking, prompt_ids = prompts[i // s.group_size]
            text = trainer.codec.decode(tokens)
            items.append((task, text, reason, thinking))
            eos = [] if reason == "length" else [_stop_token(trainer, result, i)]  # the stop token is trained too
            samples.append({"prompt": prompt_ids, "completion": tokens + eos, "thinking": thinking,
                            "truncated": reason == "length", "group": (round_, i // s.group_size)})
        for sample, sc in zip(samples, score_all(items, s.format_penalty)):
            sample.update(sc.to_dict())
            n, limit = len(sample["completion"]), s.max_new_tokens
            if s.overlong == "penalty" and n > limit - s.overlong_buffer and s.overlong_buffer:
                sample["reward"] += -min(1.0, (n - (limit - s.overlong_buffer)) / s.overlong_buffer)
        seen += samples
        for g in range(len(prompts)):
            group = samples[g * s.group_size:(g + 1) * s.group_size]
            if s.dynamic_sampling and not group_has_signal(group, s.overlong):
                stats["groups_dropped"] += 1
            elif len(kept) < s.prompts_per_step * s.group_size:
                kept += group
        if not s.dynamic_sampling or len(kept) >= s.prompts_per_step * s.group_size:
            break
    stats["seen"] = seen
    return kept, stats


def in_loss(sample: dict, overlong: str) -> bool:
    """Whether the sample's tokens are in the loss: overlong = "filter" leaves a truncated completion out (DAPO's
    overlong filtering; rl_update.py masks it)."""
    return not (overlong == "filter" and sample["truncated"])


def group_has_signal(group: list[dict], overlong: str) -> bool:
    """Whether the group's samples that are in the loss have unequal rewards. A group whose rewards are all equal has
    advantage 0; one whose differing rewards are all on truncated samples that overlong = "filter" leaves out of the
    loss trains no token on that difference (an iteration of nothing else ran optimizer steps on an empty loss,
    AdamW's momentum and weight decay moving the weights, and was reported as trained)."""
    return len({x["reward"] for x in group if in_loss(x, overlong)}) > 1


def any_signal(samples: list[dict], group_size: int, overlong: str = "none") -> bool:
    """Whether any group (group_size consecutive samples) has signal (group_has_signal). A batch of groups without
    (which dynamic_sampling = false keeps) has no policy gradient: its update would be an optimizer step on a zero
    gradient, where weight decay alone shrinks the weights, and the run would report a model trained. Such an
    iteration is skipped, as with dynamic sampling (which keeps no such group), whether or not a KL term is on."""
    return any(group_has_signal(samples[i:i + group_size], overlong) for i in range(0, len(samples), group_size))


def no_signal_reason(seen: list[dict], group_size: int, overlong: str) -> str:
    """The skipped row's "skipped": why no group of the iteration's samples (`seen`, every round's) had signal."""
    if overlong == "filter" and any_signal(seen, group_size, "none"):  # the rewards differed on truncated ones only
        return ("no group had unequal rewards among its completions in the loss (overlong = \"filter\" leaves "
                "truncated ones out: raise max_new_tokens or set overlong = \"penalty\")")
    return "every group had equal rewards"


def _stop_token(trainer, result, i: int) -> int:
    """The stop id completion i ended on, which is trained as its last token; where the sampler did not say
    (axk1 serve leaves it out of a reply), the chat turn's end, which SFT taught the model to end a turn with."""
    sampled = result.stop_tokens[i] if result.stop_tokens else None
    if sampled is not None:
        return sampled
    return trainer.turn_end if trainer.turn_end is not None else trainer.config.eos_token_ids[0]
