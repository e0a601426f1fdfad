"""RL's update stage (the fourth step of an iteration of axk1/posttrain/rl.py): the sampling policy's old
log-probs, then `updates_per_batch` optimizer steps on minibatches of whole groups with the loss of policy_loss.py,
aux-loss-free balancing, a non-finite update dropped, the updated weights pushed to the rollout engine.

`trainer` below is the RLTrainer (axk1/posttrain/rl.py), which holds the model, optimizer, schedule and balancer.
Legend: B completions, T tokens of prompt + completion, C completion positions.
"""

from __future__ import annotations

import time

import torch

from axk1.model import check_token_ids
from axk1.parallel.fsdp import clip_gradients
from axk1.posttrain.policy_loss import TRL_LOSS_TYPES, group_advantages, policy_loss
from axk1.posttrain.rl_batches import Padding, minibatches, pad_rows, rank_micro_batches
from axk1.posttrain.rl_rollout import in_loss
from axk1.posttrain.rl_stats import mean_over_updates, reduce_stats
from axk1.train.loss_spike import NonFiniteGuard

NON_FINITE = NonFiniteGuard()


def update(trainer, samples: list[dict], step0: int) -> dict:
    """`updates_per_batch` optimizer steps, each on a minibatch of whole groups; under torchrun each data-parallel
    rank takes every dp_size-th completion of a minibatch (any group size: rl_batches.rank_micro_batches) and the loss
    keeps the whole batch's normaliser.

    token_mean (TRL's `dapo`) divides every step's token sum by the rollout batch's kept tokens over the number of
    steps, as TRL does (its num_items_in_batch over steps_per_generation): every token of the batch weighs the same
    whichever minibatch it falls in. Each minibatch's own count gave a short minibatch's tokens more weight (a step
    0.84x to 1.23x of TRL's in the demo's rl.toml shape)."""
    s = trainer.recipe.rl
    trainer.model.train()
    rewards_B = torch.tensor([x["reward"] for x in samples], dtype=torch.float32)
    adv_B = group_advantages(rewards_B, s.group_size, s.advantage_scale).to(trainer.device)
    ids_BT = pad_rows([x["prompt"] + x["completion"] for x in samples], trainer.pad_id)
    check_token_ids(ids_BT, trainer.config)  # on the host, once: the log-prob forwards then read nothing
    ids_BT = ids_BT.to(trainer.device)
    prompt_B = torch.tensor([len(x["prompt"]) for x in samples], device=trainer.device)
    length_B = prompt_B + torch.tensor([len(x["completion"]) for x in samples], device=trainer.device)
    keep = [in_loss(x, s.overlong) for x in samples]
    keep_B = torch.tensor(keep, device=trainer.device)
    mb = max(1, trainer.recipe.batch.micro_batch)
    batches = minibatches(len(samples), s.group_size, s.updates_per_batch, (trainer.recipe.data.seed, step0))
    micro = [rank_micro_batches(rows, mb, trainer.dp_rank, trainer.dp_size) for rows in batches]
    # lengths from the host's samples: reading them off the device tensors would wait on it per micro-batch
    length = [len(x["prompt"]) + len(x["completion"]) for x in samples]
    # token_mean's divisor: the whole batch's kept tokens, a step's share (the same on every rank and step)
    n_tokens = max(sum(len(x["completion"]) for x, k in zip(samples, keep) if k) / len(batches), 1.0)

    rows_of: dict[tuple, torch.Tensor] = {}

    def on_device(sel: list[int]) -> torch.Tensor:
        """A micro-batch's rows as an index tensor on the device, made once: a Python list indexing a device
        tensor is copied to it from pageable memory at each use, which on CUDA waits for the device's queue
        (five host syncs a micro-batch)."""
        key = tuple(sel)
        if key not in rows_of:
            index = torch.tensor(key, dtype=torch.long)
            rows_of[key] = (index.pin_memory() if trainer.device.type == "cuda" else index).to(
                trainer.device, non_blocking=True)
        return rows_of[key]

    def logprobs(policy, sel: list[int], with_entropy: bool):
        T = max(length[i] for i in sel)
        host = ([len(samples[i]["prompt"]) for i in sel], [length[i] for i in sel])
        rows_X = on_device(sel)
        with trainer.autocast:  # [parallelism] precision, as the Trainer's forwards (TrainerBase.set_precision)
            return policy(ids_BT[rows_X, :T], prompt_B[rows_X], length_B[rows_X], with_entropy, s.temperature, host)

    with torch.no_grad():  # the sampling policy's log-probs (the model has not moved since the rollout)
        # The first minibatch is trained before any step, so its own forward gives its old log-probs (detached
        # below); only the later minibatches need this extra pass before the policy moves.
        old = {tuple(sel): logprobs(trainer.policy, sel, False)[0] for chunks in micro[1:] for sel in chunks}
        ref = ({tuple(sel): logprobs(trainer.ref, sel, False)[0] for chunks in micro for sel in chunks}
               if trainer.ref is not None else None)
    agg, t0, tokens, bad = [], time.perf_counter(), 0, 0
    for u, rows in enumerate(batches):
        lr = trainer.schedule.apply(trainer.optimizer, step0 + u)
        trainer.optimizer.zero_grad(set_to_none=True)
        parts, loss_sum = [], torch.zeros((), device=trainer.device)
        for sel in micro[u]:
            logp_BC, ent_BC, mask_BC = logprobs(trainer.policy, sel, True)
            padding = isinstance(sel, Padding)
            rows_X = on_device(sel)
            mask_BC = mask_BC & keep_B[rows_X, None] & (not padding)  # padding: a loss and gradients of 0
            old_BC = logp_BC.detach() if u == 0 else old[tuple(sel)]
            loss, st = policy_loss(logp_BC, old_BC, adv_B[rows_X], mask_BC, level=s.level,
                                   clip_low=s.clip_low, clip_high=s.clip_high, aggregation=s.aggregation,
                                   ref_logp_BT=ref[tuple(sel)] if ref else None, beta=s.beta,
                                   max_completion_length=s.max_new_tokens, num_tokens=n_tokens)
            if TRL_LOSS_TYPES.get(s.aggregation, s.aggregation) != "token_mean":
                loss = loss * len(sel) / len(rows)  # per-completion means: weight micro-batches by their rows
            (loss * trainer.dp_size).backward()  # FSDP averages gradients over the dp ranks: scale back to a sum
            if not padding:  # a padding micro-batch's routed tokens are nobody's: they must not move the bias
                trainer.balancer.accumulate_loads()
            m = mask_BC.float()
            # NaN (null in the row, left out of the mean) where no token is in the loss, not 0.0
            st["entropy"] = torch.where(m.sum() > 0, (ent_BC * m).sum() / m.sum().clamp(min=1),
                                        float("nan")).detach().float()
            if padding:  # its statistics are no completion's: NaN, which reduce_stats leaves out
                st = {k: torch.full_like(v, float("nan")) for k, v in st.items()}
            else:
                tokens += sum(length[i] for i in sel)
            loss_sum += loss.detach().float()
            parts.append(st)
        grad_norm = clip_gradients(trainer.model, trainer.recipe.optimizer.grad_clip,
                                   trainer.parallel and trainer.parallel.mesh)
        stats = reduce_stats(parts, loss_sum, trainer.parallel is not None)  # on the device
        # read before the step, which depends on it (the same values on every rank: reduced, and a global norm)
        values = torch.cat([stats.values_K, grad_norm.detach().double().reshape(1).to(trainer.device)]).tolist()
        entry = {**dict(zip(stats.names, values)), "grad_norm": values[-1], "lr": lr}
        NON_FINITE.on_before_optimizer_step(trainer, entry)  # the Trainer's judge of a non-finite step
        if entry.pop("skipped", None):  # it would make every weight NaN: dropped, as the Trainer's bad step
            trainer.drop_step()
            bad += 1
        else:
            trainer.optimizer.step()
            trainer.balancer.step()
            entry.update(_load_drift(trainer))
        agg.append(entry)
    trainer.push_weights()
    out = mean_over_updates(agg)
    out["update_tokens_per_s"] = tokens * trainer.dp_size / max(time.perf_counter() - t0, 1e-9)
    if bad:
        out["bad_updates"] = bad
    if bad == len(agg):  # trained nothing; BadStepGuard stops the run after [run] max_bad_steps in a row
        out["skipped"] = "non-finite loss or gradient in every update"
    return out


def _load_drift(trainer) -> dict:
    """Total-variation distance of each MoE layer's expert-load distribution from the one at RL's start."""
    loads_LE = trainer.balancer.last_loads_LE  # this update's loads, summed over ranks
    share_LE = loads_LE / loads_LE.sum(1, keepdim=True).clamp(min=1)
    if trainer.load_start_LE is None:
        trainer.load_start_LE = share_LE.clone()
    tv = (0.5 * (share_LE - trainer.load_start_LE).abs().sum(1)).tolist()  # one read, not one per layer
    out = {f"expert_drift/{name}": tv[i] for i, (name, _) in enumerate(trainer.balancer.layers)}
    out["expert_drift_mean"] = sum(tv) / len(tv) if tv else 0.0
    return out
