"""`axk1 rl`: on-policy RL with verifiable rewards — GSPO inside DAPO's conventions (GRPO as an option).

One iteration: steps 1-3 are the rollout stage (axk1/posttrain/rl_rollout.py), step 4 the update stage
(axk1/posttrain/rl_update.py); this file sets them up and runs the loop.
1. rollout — prompts drawn from the task file (a pure function of seed and iteration), each in think mode (the
   prompt ends with `<think>`) or non-think mode (it ends with `</think>`), G samples per prompt on axk1's own
   batched generation over the latent KV cache;
2. reward — R = R_correct (±1) + R_format (0 / −1) from the evaluation graders (rewards.py); DAPO's overlong
   handling (truncated samples filtered from the loss, or a soft length penalty);
3. dynamic sampling — groups whose rewards are all equal (among the completions in the loss: overlong filtering
   leaves truncated ones out) carry no signal: dropped, and more
   prompts are sampled until the batch is full (or the round limit is hit);
4. update — old log-probs (the first minibatch: its own forward), then `updates_per_batch` optimizer steps on minibatches of the rollout batch
   (so from the second step on the policy has moved and the importance ratio is no longer 1), loss from
   policy_loss.py; aux-loss-free balancing keeps running; metrics (reward and accuracy per mode, lengths, clip
   fractions, ratios, entropy, KL, tokens/s, each MoE layer's expert-load drift since RL began) to JSONL +
   TensorBoard; DCP checkpoints with exact resume.

As `axk1 train`, a run holds a lock on its output folder and stops on SIGTERM after the iteration with a checkpoint;
a full disk after the last checkpoint is axk1/posttrain/run_end.py (docs/posttraining.md, "Faults").

Legend: B completions, T tokens of prompt + completion, C completion positions, D hidden, V vocabulary.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from axk1.api_key import SERVER_KEY_ENV, read_api_key
from axk1.checkpoint.dcp import KEEP_ROUTER_BIAS, claim_checkpoint_dir, save_checkpoint, step_dir
from axk1.checkpoint.folder import check_output_folder
from axk1.checkpoint.hf import load_model
from axk1.checkpoint.run_lock import exporting_lock
from axk1.config import parse_dtype
from axk1.infer.generation_config import reply_stop_ids
from axk1.parallel.distributed import init_distributed, launched_with_torchrun
from axk1.parallel.gather import copy_full_weights_
from axk1.posttrain import rl_rollout, rl_update
from axk1.posttrain.logprobs import PolicyLogprobs
from axk1.posttrain.plots import RLPlots
from axk1.posttrain.rl_recipe import RLRecipe, prompt_budget
from axk1.posttrain.rl_resume import MAY_CHANGE, resume_counters, rl_run_definition, rl_state_lacks
from axk1.posttrain.rl_stats import rollout_metrics
from axk1.posttrain.rollout_server import RolloutServer
from axk1.posttrain.run_end import export_after_training, write_report
from axk1.posttrain.task_length import longest_prompt_ids
from axk1.posttrain.tasks import read_task_rows
from axk1.text.think_prompt import no_switch_warning
from axk1.train.balance import LoadBalancer
from axk1.train.callbacks import BadStepGuard, Callback, Checkpointer, MetricsWriter, ProgressBar, StopOnSignal
from axk1.train.loop import run_loop
from axk1.train.optim import build_optimizer, schedule_from_recipe
from axk1.train.rank_recipes import check_ranks_agree
from axk1.train.resume import resume_run
from axk1.train.trainer import build_model
from axk1.train.trainer_base import TrainerBase

# How long the other ranks wait for the main rank's rollout (generation and grading) before giving up.
ROLLOUT_TIMEOUT = timedelta(hours=12)


class RLTrainer(TrainerBase):
    def __init__(self, recipe: RLRecipe, resume: bool = False, start_over: bool = False) -> None:
        # the locks first (TrainerBase), as `axk1 train`: a second run is refused before it loads any model
        self.recipe = recipe
        self.build_under_locks(self.build, resume, start_over)

    def build(self, resume: bool, start_over: bool) -> None:
        r = self.recipe
        if r.run.threads:
            torch.set_num_threads(r.run.threads)
        self.device = torch.device(r.run.device)
        self.config = r.model.build_config()
        self.codec = r.chat_codec()
        # every row checked: control tokens by this codec, and room in the context for [rl] max_new_tokens (a row
        # that had none stopped the run at the iteration that drew it, after hours of work)
        self.tasks = read_task_rows(r.rl.tasks, self.codec,
                                    prompt_budget(r, self.codec, self.config.max_position_embeddings))
        self.pad_id = self.codec.token_id("<|pad|>") or 0
        # the chat turn's end (`<|im_end|>`) is what SFT trained to end a turn with; rollouts stop there too
        self.turn_end = self.codec.turn_end
        self.stop_ids = reply_stop_ids(r.rl.template_from, self.config.eos_token_ids, self.config.vocab_size,
                                       self.turn_end)
        # claimed before any model is built, as pretraining's: a new run into an earlier run's folder is refused at
        # once; after the task rows are checked, so a refused task file leaves no checkpoints folder behind
        self.ckpt_dir = Path(r.checkpointing.dir)
        claim_checkpoint_dir(self.ckpt_dir, resume, start_over)
        distributed = launched_with_torchrun()
        if distributed:
            self.device = init_distributed(self.device, r.run.collective_timeout_s)  # cuda -> cuda:LOCAL_RANK
            check_ranks_agree(r, self.config)  # before any collective the ranks' recipes shape
        self.model, self.policy, self.parallel = build_model(r, self.config, self.device, distributed,
                                                             wrap=PolicyLogprobs)
        self.is_main = self.parallel is None or self.parallel.is_main
        self.set_precision()  # the update's forwards in [parallelism] precision, as the Trainer's (trainer_base.py)
        self.dp_rank, self.dp_size = (self.parallel.dp_rank, self.parallel.dp_size) if self.parallel else (0, 1)
        # said at the start and in rl_report.json, not refused: the rollout prompts are built to switch all the same
        self.warnings = ([] if self.codec.ends_prompts_itself()
                         else [no_switch_warning(self.codec.template_file)])
        self.warnings += rl_rollout.pool_warnings(self.tasks, r.rl.prompts_per_step, r.rl.modes)
        for warning in self.warnings if self.is_main else []:
            print(f"WARNING: {warning}", file=sys.stderr, flush=True)
        if self.is_main and (note := rl_rollout.duplicates_note(self.tasks)):
            print(note, file=sys.stderr, flush=True)
        # Rollouts run on one engine: with [rl] server_url an inference server that loads each update's weights
        # from disk (axk1/posttrain/rollout_server.py: no replica on any training rank); otherwise in one process
        # the policy itself, under torchrun a whole replica on the main rank refreshed from the shards after every
        # update. The main rank's samples are broadcast to every rank.
        self.engine, self.server, self.rollout_group = self.model, None, None
        if r.rl.server_url:
            self.engine = None
            out = Path(r.run.out_dir).absolute()
            self.server = RolloutServer(r.rl.server_url, r.rl.weights_dir, str(out), r.rl.server_model,
                                        read_api_key(r.rl.server_api_key_env, SERVER_KEY_ENV), r.rl.server_api_key_env,
                                        r.rl.server_concurrency, r.rl.server_timeout_s, is_main=self.is_main,
                                        push_dtype=parse_dtype(r.rl.push_dtype))
        elif self.parallel is not None:
            self.engine = load_model(r.model.init_from, device=self.device).eval() if self.is_main else None
        if self.parallel is not None:
            # the other ranks wait for the rollout in its broadcast for as long as it takes the one engine: on the
            # default group they would give up after [run] collective_timeout_s, shorter than a rollout of
            # long think traces. gloo, since the samples are Python objects (host memory)
            self.rollout_group = dist.new_group(backend="gloo", timeout=ROLLOUT_TIMEOUT)
        self.optimizer = build_optimizer(self.model, r.optimizer)
        total = r.rl.iterations * r.rl.updates_per_batch
        self.schedule = schedule_from_recipe(r.schedule, r.optimizer.lr, r.schedule.total_steps or total, total)
        self.balancer = LoadBalancer(self.model, r.moe.bias_update_rate, r.moe.balancing == "aux-loss-free",
                                     device=self.device)  # counted where the router runs: no copy per layer
        self.ref = None
        if r.rl.beta > 0:  # the frozen starting point for the KL term, sharded as the policy is (no whole copy)
            self.ref = build_model(r, self.config, self.device, distributed, wrap=PolicyLogprobs)[1]
            self.ref.eval().requires_grad_(False)
        self.definition = rl_run_definition(r, self.config, self.tasks)
        self.start_state()  # a step: an iteration (axk1/train/trainer_base.py)
        self.total_steps, self.load_start_LE = r.rl.iterations, None
        resume_step = None
        if resume:
            # pretraining's resume: a recipe that would train another run is refused before any tensor is read (a
            # checkpoint written before run definitions were saved has none: nothing to compare), then the counters
            resume_step, saved = resume_run(self.ckpt_dir, self.definition, self.policy, self.optimizer,
                                            rl_state_lacks, counter="iteration", may_change=MAY_CHANGE)
            self.state.step, self.state.skipped_steps, start = resume_counters(saved)
            if start is not None:
                self.load_start_LE = torch.tensor(start, dtype=torch.float64, device=self.device)
        self.weights_version = self.state.step  # counts the pushes to a server (a folder each)
        if self.server is not None and self.is_main:  # what the server cannot take, said before the first push
            # the longest prompt of all the tasks (the first draw's alone let a longer one fail a later iteration)
            longest = longest_prompt_ids(self.codec, [str(t["prompt"]) for t in self.tasks], r.rl.modes)
            self.server.check(longest, r.rl.group_size, r.rl.max_new_tokens)
        if resume_step is not None or self.server is not None:  # a server serves what it was started with
            self.push_weights()
        if resume_step is not None and self.is_main:
            print(f"resuming from {step_dir(self.ckpt_dir, resume_step)} (iteration {resume_step} of "
                  f"{self.total_steps})", flush=True)
        # The loop's concerns shared with pretraining and SFT (axk1/train/callbacks.py): the progress bar, every
        # iteration's row to JSONL and TensorBoard, checkpoints every [checkpointing] interval_steps iterations and
        # at the end, and on SIGTERM a checkpoint of the iteration and a stop (agreed after each iteration).
        # Every iteration is a log row, printed too where stderr is not a terminal (one took a minute and the
        # default [logging] every_steps printed nothing for ten); rl_curves.png drawn from the whole run's JSONL
        # at the end, as pretraining's plots are (`axk1 rl` by hand drew none: only the demo's report did).
        self.callbacks: list[Callback] = [ProgressBar("rl", every_step=True),
                                          MetricsWriter(self, resume_step, every_step=True),
                                          BadStepGuard(), Checkpointer(), StopOnSignal(), RLPlots()]

    def push_weights(self) -> None:
        """The updated policy to the rollout engine: a server's folder, or the main rank's replica."""
        if self.server is not None:  # every rank writes its part of the folder the server loads
            self.weights_version += 1
            self.server.publish(self.policy, self.weights_version, {"model_config": self.config.to_dict(),
                                                                    "mtp_depth": 0, KEEP_ROUTER_BIAS: True})
            if self.parallel is not None:  # the main rank alone deletes the staging copy, has the server load the
                # folder (409s retried up to server_timeout_s) and deletes the previous one: the others wait here,
                # on the rollout group's timeout, not in the next default-group collective ([run] collective_timeout_s)
                dist.barrier(group=self.rollout_group)
        elif self.parallel is not None:  # every rank takes part in the gathers; the main rank's replica receives
            copy_full_weights_(self.model, self.engine)

    # ---- the iteration's two stages ----
    def rollout(self, iteration: int) -> tuple[list[dict], dict]:
        """Scored samples of the groups kept by dynamic sampling, and rollout stats (the same on every rank):
        axk1/posttrain/rl_rollout.py."""
        return rl_rollout.rollout(self, iteration)

    def update(self, samples: list[dict], step0: int) -> dict:
        """`updates_per_batch` optimizer steps on the samples, then the weights pushed to the rollout engine; the
        row's update metrics: axk1/posttrain/rl_update.py."""
        return rl_update.update(self, samples, step0)

    def fit(self) -> list[dict]:
        """The iterations to [rl] iterations, each followed by the callbacks (the loop of axk1/train/loop.py, as
        pretraining's); returns their rows."""
        rows: list[dict] = []
        run_loop(self, self.iteration, rows)
        return rows

    def iteration(self, it: int) -> dict:
        """One iteration: rollout, update (unless no group was kept), the counters, and whether any rank was asked
        to stop; returns its row."""
        s = self.recipe.rl
        samples, st = self.rollout(it)
        seen = st.pop("seen")
        row = {"step": it + 1, **rollout_metrics(seen, samples), **st}
        row["rollout_tokens_per_s"] = st["rollout_tokens"] / max(st["rollout_s"], 1e-9)
        learnable = rl_rollout.any_signal(samples, s.group_size, s.overlong)
        if learnable:
            row.update(self.update(samples, it * s.updates_per_batch))  # "skipped" if no update had a finite loss
        else:  # nothing kept (dynamic sampling), or only groups without signal (without it): no optimizer step
            row["skipped"] = rl_rollout.no_signal_reason(seen, s.group_size, s.overlong)
        self.count_step(row, judged=learnable)  # no signal says nothing of the training: not a bad step
        self.state.step = it + 1
        self.poll_stop()  # a signal may reach only some ranks: every rank stops after the same iteration
        self.progress.update(reward=f"{row['reward_mean']:.2f}", acc=f"{row['accuracy']:.2f}",
                             kept=len(samples) // s.group_size)
        return row

    def save(self, wait: bool = True) -> Path:
        """A checkpoint of the iterations done (written synchronously: `wait` is for the callbacks' interface)."""
        state = {"state": {"iteration": self.state.step, "skipped": self.state.skipped_steps,
                           "load_start": self.load_start_LE.tolist() if self.load_start_LE is not None else None},
                 "model_config": self.config.to_dict(), "mtp_depth": 0, "run": self.definition,
                 KEEP_ROUTER_BIAS: True}  # its export writes the bias it routed with (recipe_rules.py)
        path = save_checkpoint(self.ckpt_dir, self.state.step, self.policy, self.optimizer, state,
                               self.recipe.checkpointing.keep_latest)
        self.saved_step = self.state.step
        return path

    def before_release(self) -> None:
        """The last weights pushed to a rollout server go (it holds them)."""
        if self.server is not None:
            self.server.finish()


def run_rl(recipe: RLRecipe, resume: bool = False, start_over: bool = False) -> dict:
    """`start_over`: delete an earlier run's checkpoints in the folder (the demo); otherwise a new run is refused.
    The counts reported are the whole run's, iterations before a --resume included. A run stopped by SIGTERM
    (`stopped_by`) exports and reports nothing: it is not finished, its checkpoint is the way on."""
    # the model folder is locked as `axk1 export` locks it, from before training to the end of the export
    with exporting_lock(recipe.export_dir, recipe.export_option):
        if recipe.export_dir:  # found now, not by the export after the last iteration
            check_output_folder(recipe.export_dir)
        trainer = RLTrainer(recipe, resume, start_over)
        try:
            rows = trainer.fit()
            done, skipped = trainer.state.step, trainer.state.skipped_steps
            result = {"rows": rows, "checkpoints": str(trainer.ckpt_dir), "model_dir": None,
                      "skipped_iterations": skipped, "iterations": done, "model_changed": skipped < done,
                      "stopped_by": trainer.stopped_by, "total_iterations": trainer.total_steps,
                      "is_main": trainer.is_main}
            if trainer.stopped_by:
                return result
            if recipe.export_dir:  # every rank writes its share of the folder
                result["model_dir"] = str(export_after_training(trainer.ckpt_dir, recipe.export_dir,
                                                                recipe.rl.template_from, trainer.parallel is not None,
                                                                trainer.codec.chat_template))
            if not trainer.is_main:
                return result
            summary = {k: result[k] for k in ("skipped_iterations", "model_changed", "iterations")}
            if trainer.warnings:
                summary["warnings"] = trainer.warnings
            write_report(Path(recipe.run.out_dir) / "rl_report.json", summary, trainer.ckpt_dir)
            if skipped:  # a skipped iteration trains nothing: said at the end, where it is read, not only per row
                what = "the model did not change" if skipped == done else "those iterations trained nothing"
                print(f"WARNING: {skipped} of {done} RL iterations were skipped (no group had unequal rewards "
                      f"among its completions in the loss, so no advantage, or no update had a finite loss: each "
                      f"row's \"skipped\" says which): {what}",
                      file=sys.stderr, flush=True)
            return result
        finally:
            trainer.release()
