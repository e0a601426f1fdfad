"""The training loop (one process or under torchrun): packed batches per curriculum stage → next-token + λ·MTP loss
(chunked cross-entropy, never full logits) → AdamW with clipping → aux-loss-free bias update; after each step the
callbacks (held-out validation, axk1/train/validation.py; finishing a background checkpoint write, async_save.py;
speed, the progress bar, metrics files, bad-step stop, checkpoints, the stop on SIGTERM, the tests' fault injection,
plots, callbacks.py), and before its update the non-finite and loss-spike checks (loss_spike.py), all run by the
loop RL shares (axk1/train/loop.py). What it shares with RL's trainer around that loop (locks, counters, the stop,
bad steps, release) is axk1/train/trainer_base.py. A run holds a lock on its output folder
(axk1/checkpoint/run_lock.py); --resume is axk1/train/resume.py; docs/training.md, "Faults", lists what survives
what.

Legend: B sequences, T tokens, D hidden, N = B·T.
"""

from __future__ import annotations

import math
import signal
from collections import deque
from contextlib import nullcontext
from pathlib import Path

import torch

from axk1.checkpoint.dcp import KEEP_ROUTER_BIAS, PendingCheckpoint, claim_checkpoint_dir, save_checkpoint, step_dir
from axk1.checkpoint.hf_sharded import load_hf_sharded_, router_bias_in
from axk1.checkpoint.mtp_order import EMBEDDING_FIRST, MTP_ORDER
from axk1.config import ModelConfig
from axk1.model import AXK1ForCausalLM
from axk1.parallel.activation_checkpoint import apply_activation_checkpointing
from axk1.parallel.compile import apply_compile
from axk1.parallel.context_parallel import RankRows
from axk1.parallel.distributed import (ParallelContext, host_all_sum, init_distributed, launched_with_torchrun,
                                       parallelize)
from axk1.parallel.init import materialize_
from axk1.parallel.fsdp import clip_gradients
from axk1.parallel.mesh import MeshDims
from axk1.signal_handlers import held_signals
from axk1.train.async_save import AsyncSaves
from axk1.train.balance import LoadBalancer, moe_layers
from axk1.train.callbacks import (BadStepGuard, Callback, Checkpointer, KillAfterCheckpoint, MetricsWriter,
                                  ProgressBar, RunPlots, SpeedMonitor, StopOnSignal, run_callbacks)
from axk1.train.divergence import DivergenceNote
from axk1.train.data import HELD_OUT_BY, Batch, StageSampler, check_token_bound, load_shards, split_validation
from axk1.train.loss import IGNORE_INDEX, Objective, host_counts
from axk1.train.loop import run_loop
from axk1.train.loss_spike import LossSpikeGuard, NonFiniteGuard
from axk1.train.model_memory import check_model_fits
from axk1.train.optim import build_optimizer, schedule_from_recipe
from axk1.train.rank_recipes import check_ranks_agree
from axk1.train.recipe import Recipe
from axk1.train.init_from_salt import init_from_salt
from axk1.train.resume import counters_lack, resume_run, run_definition, saved_held_out_by
from axk1.train.trainer_base import TrainerBase, TrainState
from axk1.train.validation import Validator, rows_problem


def build_model(r: Recipe, config: ModelConfig, device: torch.device, distributed: bool,
                wrap: type[torch.nn.Module] = Objective) -> tuple[AXK1ForCausalLM, torch.nn.Module, ParallelContext | None]:
    """(model, wrapper, parallel context or None) for the recipe. The wrapper holds the model as `.lm` and its
    forward is what a step runs (the training `Objective`; RL's completion log-probabilities): FSDP2's root unit.

    Distributed (a process group is up): built on the meta device, sharded there (expert parallelism, FSDP2),
    then each rank allocates and fills only its own shards (axk1.parallel.init), so no rank ever holds the
    whole model. One process: the same path without the sharding, so the init is the same counter-based one
    (seeded by [run] seed, else [data] seed) whatever the world size; with [model] init_from the folder's weights
    replace it."""
    p = r.parallelism
    dims = MeshDims(p.dp_replicate, p.dp_shard, p.ep, p.cp)
    if not distributed and dims.world_size > 1:
        raise ValueError(f"[parallelism] asks for {dims.world_size} ranks (dp_replicate x dp_shard x cp): launch with "
                         f"torchrun --nproc-per-node {dims.world_size} -m axk1 train ..., or set them to 1")
    seed = r.init_seed()
    torch.manual_seed(seed)  # any other random draw of the run starts from the seed too
    with_mtp = r.model.mtp_depth > 0
    check_model_fits(config, with_mtp, torch.device(device), dims.world_size, r.model.describe())  # before building
    with torch.device("meta"):
        model = AXK1ForCausalLM(config, with_mtp=with_mtp)
    apply_activation_checkpointing(model, p.activation_checkpointing)  # before fully_shard, as it composes
    if p.compile:  # after recompute and before fully_shard, torchtitan's order
        apply_compile(model, bf16=p.precision == "bf16")
    objective = wrap(model)
    # bf16 under FSDP2 (torchtitan's way): weights gathered in bf16 for compute, gradients reduced in fp32, fp32
    # master weights and optimizer state; one process uses autocast instead (Trainer.autocast)
    param_dtype = torch.bfloat16 if p.precision == "bf16" else None
    parallel = parallelize(objective, dims, device, param_dtype=param_dtype) if distributed else None
    materialize_(objective, device, seed)
    if r.model.init_from is not None and torch.device(device).type != "meta":
        load_hf_sharded_(model, r.model.init_from)
    return model, objective, parallel



def rows_over_ranks_problem(sequences: set[int], dp_size: int, resume: bool) -> str | None:
    """Why a step's sequences do not split evenly over the data-parallel ranks, with the rank counts that would."""
    if not any(n % dp_size for n in sequences):
        return None
    common = math.gcd(*sequences)
    fits = ", ".join(str(d) for d in range(1, common + 1) if common % d == 0)
    fix = "" if resume else "change [batch], or "  # a resumed run cannot change [batch]: it defines the run
    return (f"sequences per step {sorted(sequences)} must divide over {dp_size} data-parallel ranks: {fix}launch a "
            f"number of data-parallel ranks (dp_replicate x dp_shard) that divides them: {fits}")


class Trainer(TrainerBase):
    def __init__(self, recipe: Recipe, resume: bool = False, sampler=None, start_over: bool = False) -> None:
        """`sampler`: the batch source (plan, total_steps, domains, position(step), batch(step, rows) -> Batch,
        state_dict); default: the pretraining StageSampler over [data] manifest's token shards. `start_over`: delete
        the checkpoints of an earlier run in the same folder (the demos, which own their folders); otherwise a new
        run there is refused. The locks come first (TrainerBase): a second run is told the folder is in use before
        the checkpoints are looked at."""
        self.recipe = recipe
        self.build_under_locks(self.build, resume, sampler, start_over)

    def build(self, resume: bool, sampler, start_over: bool) -> None:
        r = self.recipe
        claim_checkpoint_dir(r.checkpointing.dir, resume, start_over)
        if r.run.threads:
            torch.set_num_threads(r.run.threads)
        self.device = torch.device(r.run.device)
        self.config = r.model.build_config()
        validator, self.tokenizer_hash, self.held_out_shards = None, None, None
        self.held_out_by = HELD_OUT_BY  # a sampler given (tests, SFT) holds no held-out split
        if sampler is None:
            manifest, shards = load_shards(r.data.manifest)
            check_token_bound(manifest, shards, self.config.vocab_size, r.data.manifest)
            self.tokenizer_hash = manifest.get("tokenizer_hash")  # saved: an export's tokenizer is checked by it
            # a resumed run keeps the rule its checkpoint placed the held-out blocks by (train/data.py)
            self.held_out_by = saved_held_out_by(Path(r.checkpointing.dir)) if resume else HELD_OUT_BY
            shards, held_out = split_validation(shards, r.validation.held_out, r.data.seed, self.held_out_by)
            self.held_out_shards = held_out  # the start's data budget names domains with none (print_budget)
            sampler = StageSampler(r, shards, salt=init_from_salt(r.model.init_from))  # not the parent's rows
            if held_out:
                validator = Validator(StageSampler(r, held_out, missing_ok=True))
        self.sampler = sampler
        distributed = launched_with_torchrun()
        if distributed:
            self.device = init_distributed(self.device, r.run.collective_timeout_s)  # cuda -> cuda:LOCAL_RANK
            check_ranks_agree(r, self.config)  # before any collective the ranks' recipes shape
        self.model, self.objective, self.parallel = build_model(r, self.config, self.device, distributed)
        self.model.train()
        for _, moe in moe_layers(self.model):
            moe.seq_aux_alpha = r.moe.seq_aux_loss_alpha
        if self.parallel is not None:
            seqs = {e.sequences for e in self.sampler.plan}
            if problem := rows_over_ranks_problem(seqs, self.parallel.dp_size, resume):
                raise ValueError(problem)
            problem = validator is not None and rows_problem(r.validation.sequences, self.parallel.dp_size)
            if problem:
                raise ValueError(problem)
        self.is_main = self.parallel is None or self.parallel.is_main
        self.optimizer = build_optimizer(self.model, r.optimizer)
        # --max-steps stops early; it never extends the plan (past its end the last stage would repeat at the final
        # learning rate, a run nobody planned)
        self.total_steps = min(r.run.max_steps or self.sampler.total_steps, self.sampler.total_steps)
        decay_stage = r.schedule.decay_starts_at_stage - 1
        decay_start = next((e.first_step for e in self.sampler.plan if e.stage == decay_stage), self.sampler.total_steps)
        self.schedule = schedule_from_recipe(r.schedule, r.optimizer.lr, r.schedule.total_steps or self.sampler.total_steps,
                                               decay_start)
        self.balancer = LoadBalancer(self.model, r.moe.bias_update_rate, r.moe.balancing == "aux-loss-free",
                                     device=self.device)
        self.start_state()  # the counters and the stop's fields (axk1/train/trainer_base.py)
        self.stage_rope = r.stage_rope_scaling(self.config.rope_scaling) if r.stages else []
        self.ckpt_dir = Path(r.checkpointing.dir)
        resume_step = None
        self.definition = run_definition(r, self.config) | {"validation.held_out_by": self.held_out_by}
        # the model folder the weights started from, saved with each checkpoint: its stages' lengths are then not
        # all the model trained at (train/trained_length.py); a resume's weights are the checkpoint's
        self.init_from = r.model.init_from
        if resume:
            resume_step, saved = resume_run(self.ckpt_dir, self.definition, self.objective, self.optimizer,
                                            counters_lack(TrainState))
            self.sampler.load_state_dict(saved["sampler"])
            self.state = TrainState(**saved["state"])
            self.init_from = saved.get("init_from")
            if self.is_main:
                print(f"resuming from {step_dir(self.ckpt_dir, resume_step)} (step {resume_step} of "
                      f"{self.total_steps})", flush=True)
        self.keep_router_bias = saved.get(KEEP_ROUTER_BIAS, r.keeps_router_bias) if resume else self.bias_kept()
        # The loop's other concerns, in the order they run after each step (axk1/train/callbacks.py). A background
        # checkpoint write that has ended is finished before the logs and the step's own save (async_save.py). Before
        # the update, a non-finite step and then a loss spike are dropped (loss_spike.py); a loss far above a uniform
        # guess's is a note (divergence.py). The resume tests' fault injection only when their environment asks for it.
        self.saves = AsyncSaves()
        self.callbacks: list[Callback] = [*([validator] if validator else []), self.saves, SpeedMonitor(),
                                          ProgressBar("train"), MetricsWriter(self, resume_step), NonFiniteGuard(),
                                          LossSpikeGuard(), BadStepGuard(), DivergenceNote(), Checkpointer(),
                                          StopOnSignal(),
                                          *KillAfterCheckpoint.if_asked(), RunPlots()]
        self.domains = list(self.sampler.domains)
        self.domain_stats_2X = torch.zeros(2, len(self.domains), dtype=torch.float64)  # since the last log (host)
        self.set_precision()  # bf16 in one process: autocast; TF32 on CUDA (axk1/train/trainer_base.py)

    def bias_kept(self) -> bool:
        """Whether the run's export writes the routers' balancing bias as trained (KEEP_ROUTER_BIAS) rather than as
        the release's zeros: post-training's always; pretraining's when [model] init_from routes with a non-zero
        bias (a transformers- or post-trained folder), since the model trained with it and zeros would be another
        model. A run from scratch writes zeros, as the release does (docs/model.md)."""
        r = self.recipe
        if r.keeps_router_bias or self.init_from is None or not router_bias_in(self.init_from):
            return r.keeps_router_bias
        if self.is_main:
            print(f"note: [model] init_from {self.init_from} routes with a non-zero balancing bias "
                  "(e_score_correction_bias): the run trains with it, and its export writes the bias as trained, not "
                  "the zeros of a run from scratch", flush=True)
        return True

    def mtp_weight(self, stage: int) -> float:
        w = self.recipe.model.mtp_loss_weight
        return float(w[min(stage, len(w) - 1)])

    def train_step(self, step: int) -> dict:
        """One optimizer step; returns its metrics (loss etc.), or marks it skipped when the loss is bad: the
        micro-batches' forward and backward, then the step's accounting (one collective and one read of device
        values), then the update."""
        pos = self.sampler.position(step)
        if self.stage_rope and self.stage_rope[pos.stage] != self.config.rope_scaling:
            self.model.set_rope_scaling(self.stage_rope[pos.stage])  # a context-extension stage begins (or resumes)
        dp_rank, dp_size = (self.parallel.dp_rank, self.parallel.dp_size) if self.parallel else (0, 1)
        batch = self.sampler.batch(step, range(dp_rank, pos.sequences, dp_size))
        lr = self.schedule.apply(self.optimizer, step)
        self.optimizer.zero_grad(set_to_none=True)
        stats_K = self.micro_batches(batch, self.mtp_weight(pos.stage), dp_size)
        (main_sum, mtp_sum, balance_sum), grad_norm = self.account(stats_K)
        n_tokens = pos.sequences * pos.seq_len
        row = {"step": step + 1, "stage": pos.name, "seq_len": pos.seq_len, "tokens": self.state.tokens + n_tokens,
               "loss": main_sum, "mtp_loss": mtp_sum, "lr": lr, "grad_norm": grad_norm,
               "domains": self.step_rows}  # the whole step's rows per domain, over every rank
        if self.recipe.moe.seq_aux_loss_alpha > 0:
            row["balance_loss"] = balance_sum
        run_callbacks(self.callbacks, "on_before_optimizer_step", self, row)  # a non-finite loss or a spike: skipped
        self.update(row)
        self.state.step = step + 1
        self.state.tokens += n_tokens
        return row

    def micro_batches(self, batch: Batch, lam: float, dp_size: int) -> torch.Tensor:
        """Forward and backward of this rank's rows in micro-batches; returns the step's statistics on the device:
        [main, MTP, balance loss sums (share-weighted), then per domain summed token losses, then labelled tokens].

        Device values are not read here (the skip decision needs loss and gradient norm, read once in `account`):
        the label counts that weight the micro-batches come from the batch on the host."""
        *rows, domains, token_domains_BT = batch
        host = self.rank_rows(*rows)  # under cp this rank's chunk of every row
        mb = self.recipe.batch.micro_batch
        starts = range(0, host.input_ids_BT.shape[0], mb)
        depth = len(self.model.mtp) if self.model.mtp is not None else 0
        # each micro-batch's ids checked and labels counted here, on the host: the loss then reads nothing back
        try:
            counts = [host_counts(self.config, *host.rows(s, s + mb)[:3], depth) for s in starts]
        except ValueError as e:  # ids past the vocabulary: which data holds them, not only that some does
            bad_B = (host.input_ids_BT < 0).any(1) | (host.input_ids_BT >= self.config.vocab_size).any(1)
            where = sorted({domains[b] for b in bad_B.nonzero().flatten().tolist() if b < len(domains)})
            raise ValueError(f"step {self.state.step + 1}, rows drawn from domain(s) {where}: {e}; the token shards "
                             f"({self.recipe.data.manifest}) hold ids the model's vocabulary does not cover: re-run "
                             "the tokenize stage, or use a model whose vocab_size covers the tokenizer") from None
        # a stop asked for by a signal rides on the step's one host sum, so all ranks stop after the same step; so
        # do the rows per domain, which this rank holds its share of (a context-parallel group shares its rows)
        n_valid, n_mtp, stops, *rows_X = self._host_sum([float(sum(c.labels for c in counts)),
                                                         float(sum(sum(c.mtp_labels) for c in counts)),
                                                         self.stop_vote(),
                                                         *(float(domains.count(d)) for d in self.domains)])
        self.agree_to_stop(stops)
        cp_size = self.parallel.cp_size if self.parallel else 1
        self.step_rows = {d: round(n / cp_size) for d, n in zip(self.domains, rows_X) if n}
        local = host.to(self._to_device)
        domain_Bt = self._to_device(self.token_domains(domains, token_domains_BT, host))
        sums_3 = torch.zeros(3, dtype=torch.float64, device=self.device)
        domain_stats_2X = torch.zeros(2, len(self.domains), dtype=torch.float64, device=self.device)
        for start, counts_mb in zip(starts, counts):
            ids, docs, labels, context = local.rows(start, start + mb)  # context: a cp chunk's positions and mask
            # token-weighted mean over the global batch; FSDP averages gradients over dp ranks, so scale back up
            share = counts_mb.labels / n_valid
            if share == 0 and self.parallel is None:
                continue  # nothing to learn here; under torchrun it still runs: FSDP2, EP and cp are collectives
            # MTP's loss is a mean over its own labels, fewer than next-token's by one per document end and depth:
            # weighted by `share` instead of its own share, the objective would depend on how rows are grouped
            # into micro-batches and data-parallel ranks (exact for depth 1; deeper MTP pools its depths' counts).
            # λ stays nonzero on a micro-batch without MTP labels, so every rank still runs the MTP module.
            mtp_share = sum(counts_mb.mtp_labels) / n_mtp if n_mtp else 0.0
            with self.autocast:
                out = self.objective(ids, docs, lam * mtp_share / share if mtp_share else lam, labels, context,
                                     counts_mb)
            (out.total * (share * dp_size)).backward()
            self.balancer.accumulate_loads()
            sums_3[0] += out.main.detach().double() * share
            if out.mtp is not None:
                sums_3[1] += out.mtp.detach().double() * mtp_share
            if out.balance is not None:
                sums_3[2] += out.balance.detach().double() * share
            # token by token: a packed row may hold targets of several domains (token_domains); unlabelled
            # positions add a loss of 0 and a count of 0 to whichever domain they carry
            where_N = domain_Bt[start:start + mb].flatten()
            domain_stats_2X[0].index_add_(0, where_N, out.token_loss_BT.flatten().double())
            domain_stats_2X[1].index_add_(0, where_N, (labels != IGNORE_INDEX).flatten().double())
        return torch.cat([sums_3, domain_stats_2X.flatten()])

    def token_domains(self, domains: list[str], token_domains_BT: torch.Tensor | None,
                      host: RankRows) -> torch.Tensor:
        """The domain index of every position this rank computes (host): the batch's own per position (its chunk
        of them under cp), else each row's domain over the whole row."""
        if token_domains_BT is None:
            row_B = torch.tensor([self.domains.index(d) for d in domains], dtype=torch.long)
            return row_B[:, None].expand(host.labels_BT.shape).contiguous()
        if host.q_len:  # a contiguous copy: pinned for the copy to a GPU as the other rows are
            return token_domains_BT[:, host.q_start:host.q_start + host.q_len].contiguous()
        return token_domains_BT

    def account(self, stats_K: torch.Tensor) -> tuple[list[float], float]:
        """The step's statistics summed over the ranks and the gradients clipped; the step's one read of device
        values. Returns the (main, MTP, balance) loss sums and the gradient norm; the per-domain sums are added to
        the totals since the last log row."""
        if self.parallel is not None:
            torch.distributed.all_reduce(stats_K)  # on the device (NCCL's)
        grad_norm = clip_gradients(self.model, self.recipe.optimizer.grad_clip, self.parallel and self.parallel.mesh)
        values = torch.cat([stats_K, grad_norm.double().reshape(1)]).tolist()
        self.domain_stats_2X += torch.tensor(values[3:-1], dtype=torch.float64).view(2, len(self.domains))
        return values[:3], values[-1]

    def update(self, row: dict) -> None:
        """The optimizer and balancing-bias step, or, for a bad step (row["skipped"] says why), its gradients and
        loads dropped; then counted (skipped, bad in a row)."""
        if "skipped" in row:
            self.drop_step()
        else:
            row.update(self.balancer.step())  # first: its read of the loads then waits for no optimizer kernels
            self.optimizer.step()
        self.count_step(row)

    def domain_losses(self) -> dict[str, float]:
        """Next-token loss per domain over the steps since the last call (token-weighted), then reset: a
        domain draws a few rows per step, so one step's figure alone is noisy."""
        out = {f"loss/{d}": nll / n for d, (nll, n) in zip(self.domains, self.domain_stats_2X.T.tolist()) if n > 0}
        self.domain_stats_2X.zero_()
        return out

    def _host_sum(self, values: list[float]) -> list[float]:
        return host_all_sum(values) if self.parallel is not None else values

    def rank_rows(self, ids_BT: torch.Tensor, docs_BT: torch.Tensor | None, labels_BT: torch.Tensor) -> RankRows:
        """The rows this rank computes on, on the host: under context parallelism its chunk of each row."""
        cp_rank, cp_size = (self.parallel.cp_rank, self.parallel.cp_size) if self.parallel else (0, 1)
        return RankRows.of(ids_BT, docs_BT, labels_BT, cp_rank, cp_size)

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        """A host tensor on the training device. To a GPU through pinned memory and non_blocking: a plain .to()
        from pageable memory waits for the device's queue to drain (a host sync)."""
        if self.device.type != "cuda":
            return t.to(self.device)
        return t.pin_memory().to(self.device, non_blocking=True)

    def save(self, wait: bool = False) -> Path:
        """Checkpoints the current step; with [checkpointing] async the write finishes in the background (the
        previous one is completed first), unless `wait`."""
        self.finish_save()
        s = self.state
        state = vars(s) | {"recent_losses": list(s.recent_losses), "spike_losses": list(s.spike_losses)}
        train_state = {"state": state, "sampler": self.sampler.state_dict(),
                       "schedule": vars(self.schedule), "model_config": self.config.to_dict(),
                       "mtp_depth": self.recipe.model.mtp_depth, MTP_ORDER: EMBEDDING_FIRST,
                       "run": self.definition,
                       KEEP_ROUTER_BIAS: self.keep_router_bias,
                       **({"tokenizer_hash": self.tokenizer_hash} if self.tokenizer_hash else {}),
                       **({"init_from": str(self.init_from)} if self.init_from else {})}
        async_save = self.recipe.checkpointing.async_
        # A Ctrl-C in an async save's staging (the state dict, the experts gathered, the copy of the state) lost the
        # checkpoint: the write was not yet handed over to AsyncSaves, whose on_error finishes it. So in one process
        # (where on_error finishes writes) SIGINT is held until the hand-over, then raised. The staging of a big
        # model on one GPU can take long, so a second Ctrl-C stops at once, that checkpoint lost (the double Ctrl-C
        # convention, as AsyncSaves' on_error). A synchronous write is not held: it can take minutes, and a Ctrl-C
        # in it leaves only a temp folder (the previous checkpoint stands).
        note = (f"note: Ctrl-C: the checkpoint of step {s.step} is being staged, and is finished before the run stops;"
                " press Ctrl-C again to stop now, without it")
        held = (held_signals([signal.SIGINT], second_stops=True, first_note=note)
                if async_save and self.parallel is None else nullcontext())
        with held:
            out = save_checkpoint(self.ckpt_dir, s.step, self.objective, self.optimizer, train_state,
                                  self.recipe.checkpointing.keep_latest, async_save=async_save)
            self.saved_step = s.step
            if isinstance(out, PendingCheckpoint):
                self.saves.pending = out
        if isinstance(out, PendingCheckpoint):
            return out.wait() if wait else step_dir(self.ckpt_dir, s.step)
        return out

    def finish_save(self) -> None:
        self.saves.finish()

    def fit(self, release: bool = True, keep_rows: int | None = None) -> list[dict]:
        """Steps to the end of the plan (or [run] max_steps), each followed by the callbacks (the loop of
        axk1/train/loop.py, which RL shares); returns the steps' metrics rows, the last `keep_rows` of them if given
        (every row is in metrics.jsonl: a pretraining run of 600,000 steps held them all in memory on every rank).
        The output folder's lock is given up at the end unless not `release`: a caller that writes into the folder
        afterwards (SFT's export) holds it through that and calls `release()` itself."""
        rows: deque[dict] = deque(maxlen=keep_rows)
        try:
            run_loop(self, self.train_step, rows)
        finally:
            if release:
                self.release()
        return list(rows)
