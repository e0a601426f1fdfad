"""`axk1 sft`: supervised fine-tuning on chat data, in either thinking mode, on the pretraining trainer.

The recipe is a pretraining recipe (same [model], [optimizer], [schedule], [batch], [parallelism],
[checkpointing], [logging], [run]) whose [[stages]] are replaced by an [sft] section naming chat data files. The
trainer is the pretraining Trainer with a different batch source, `ChatSampler`, so checkpoints, exact resume, the
progress bar, TensorBoard, FSDP2 + EP and fault handling are the same code. At the end the newest checkpoint is
exported as a Hugging Face folder with the tokenizer and chat template it was rendered with (`[run] out_dir/model`).

Legend: B sequences, T tokens per sequence.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from axk1.checkpoint.folder import check_output_folder
from axk1.checkpoint.run_lock import exporting_lock
from axk1.infer.chat import ChatCodec
from axk1.posttrain.chat_data import MODES, ChatExample, load_chat_examples
from axk1.posttrain.recipe_rules import ChatTable, PostTrainRecipe
from axk1.posttrain.run_end import export_after_training
from axk1.process_rank import process_rank
from axk1.train.data import Batch, PlanEntry, StagePosition, plan_position
from axk1.train.dry_run import batch_notes, micro_batch_notes
from axk1.train.loss import IGNORE_INDEX
from axk1.train.recipe import load_recipe, parse_recipe
from axk1.train.step_checks import check_step_shapes, check_warmup
from axk1.train.trainer import Trainer

# What a resumed SFT run may change in [sft] (besides what a resumed training run may, axk1/train/resume.py): the
# paths of the chat data and the template (the rows they render to are compared by the sampler's fingerprint) and
# whether it exports. The rest, epochs, seq_len and mode, sets the rows and the schedule's length.
SFT_RESUMABLE = ("data", "template_from", "export")


@dataclass
class SFTConfig(ChatTable):      # template_from, export
    data: list[str] = field(default_factory=list)  # chat data files or folders, any kind chat_formats.py reads
                                                   # (relative: to the recipe's folder)
    mode: str = "keep"           # "think" | "non-think" | "keep" (each turn as it comes: reasoning → think mode)
    seq_len: int = 1024          # packed row length; an assistant turn longer with its prompt is "over-long"
    epochs: float = 1.0


@dataclass
class SFTRecipe(PostTrainRecipe):
    sft: SFTConfig = field(default_factory=SFTConfig)
    verb = "axk1 sft"
    table, renders = "sft", "chat rows"
    length_key = "[sft] seq_len"

    def validate(self) -> None:
        super().validate()
        s = self.sft
        if not s.data:
            raise ValueError("[sft] data must list at least one chat data file (docs/posttraining.md, \"Your own "
                             "SFT data\")")
        if s.mode not in MODES:
            raise ValueError(f"[sft] mode {s.mode!r} unknown; use one of {', '.join(MODES)}")
        if not math.isfinite(s.epochs):
            raise ValueError(f"[sft] epochs must be a finite number, got {s.epochs}")
        if s.epochs <= 0 or s.seq_len < 8:
            raise ValueError("[sft] needs epochs > 0 and seq_len >= 8")
        # what [[stages]] get checked for (train/recipe_checks.py), checked here before every rank renders the chat
        # set and loads the weights, which is where the first forward found them
        context = self.model.build_config().context_length
        if s.seq_len > context:
            raise ValueError(f"[sft] seq_len {s.seq_len} is past the model's context of {context} tokens: "
                             "lower it, or start from a model extended to that length")
        if s.seq_len % self.parallelism.cp:
            raise ValueError(f"[parallelism] cp = {self.parallelism.cp} must divide [sft] seq_len {s.seq_len}")
        for p in s.data:
            if not Path(p).exists():
                raise FileNotFoundError(f"[sft] data file {p} not found: make it (`axk1 posttrain chat TASKS.jsonl "
                                        "--mode think -o FILE` writes the demo's chat rows) or name your own chat "
                                        "JSONL with --sft.data '[\"FILE.jsonl\"]' (docs/posttraining.md, \"Your own "
                                        "SFT data\")")
        self.check_template()
        check_step_shapes(self)

    path_keys = PostTrainRecipe.path_keys + ("sft.data", "sft.template_from")

    def own_definition(self) -> dict:
        """[sft]'s keys that define the run: another epochs stretched the cosine schedule mid-run (the learning rate
        jumped back up) and was accepted; another seq_len or mode was refused as other chat data."""
        return {f"sft.{k}": v for k, v in asdict(self.sft).items() if k not in SFT_RESUMABLE}

    def step_shapes(self) -> list[tuple[str, int, int]]:
        return [("sft", self.sft.seq_len, self.sequences_per_step(self.sft.seq_len))]  # packed rows, one length


def load_sft_recipe(path: str | Path, overrides: list[str] | None = None, **run: object) -> SFTRecipe:
    return load_recipe(path, overrides, cls=SFTRecipe, example="recipes/posttrain/sft-think.toml", **run)


def parse_sft_recipe(raw: dict, base_dir: str | Path) -> SFTRecipe:
    return parse_recipe(raw, base_dir, cls=SFTRecipe)


def pack(examples: list[ChatExample], seq_len: int, seed: int) -> list[list[int]]:
    """Example indices per row: a seeded shuffle, then first-fit in order (an example never spans two rows)."""
    order = np.random.default_rng(seed).permutation(len(examples))
    rows: list[list[int]] = []
    fill: list[int] = []
    for i in order.tolist():
        n = len(examples[i].ids)
        for r, used in enumerate(fill[-8:], start=max(0, len(fill) - 8)):  # a few open rows are enough
            if used + n <= seq_len:
                rows[r].append(i)
                fill[r] += n
                break
        else:
            rows.append([i])
            fill.append(n)
    return rows


def data_fingerprint(examples: list[ChatExample]) -> str:
    """sha256 of what is trained: every example's token ids, prompt length and mode, in reading order."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(f"{ex.n_prompt},{ex.mode},{len(ex.ids)};".encode())
        h.update(np.asarray(ex.ids, dtype=np.int64).tobytes())  # (int64: the fingerprint of runs made before)
    return h.hexdigest()


class ChatSampler:
    """Packed chat rows for any step; one stage named "sft". Rows are packed once, then each epoch visits them in
    its own seeded order, so a step's batch is a pure function of (seed, step) and resume is exact."""

    def __init__(self, recipe: SFTRecipe, codec: ChatCodec, vocab_size: int) -> None:
        s = recipe.sft
        self.seed, self.seq_len = recipe.data.seed, s.seq_len
        # the bar on the main rank at a terminal (process_rank: torchrun's RANK, as the process group is not up yet)
        progress = recipe.logging.progress and process_rank() == 0 and sys.stderr.isatty()
        self.examples, self.report = load_chat_examples(s.data, codec, s.mode, s.seq_len, progress)
        if not self.examples:
            raise ValueError(f"no trainable chat rows in {s.data}: {self.report.summary()}")
        top = max(int(e.ids.max()) for e in self.examples)
        if top >= vocab_size:
            raise ValueError(f"the chat data encodes to token id {top} but the model's vocab_size is {vocab_size}: "
                             "render with the model's own tokenizer ([sft] template_from)")
        self.pad_id = codec.token_id("<|pad|>") or 0
        self.rows = pack(self.examples, s.seq_len, self.seed)
        self._order: tuple[int, np.ndarray] | None = None  # (epoch, its row order), for _row
        self.fingerprint = data_fingerprint(self.examples)
        seqs = recipe.sequences_per_step(s.seq_len)
        self.total_steps = max(1, int(-(-s.epochs * len(self.rows) // seqs)))
        self.plan = [PlanEntry(0, self.total_steps, 0, s.seq_len, seqs)]
        self.domains = ["non-think", "think", "mixed"]

    def position(self, step: int) -> StagePosition:
        return plan_position(self.plan, ["sft"], step)

    def _row(self, k: int) -> int:
        """The packed row at global position k (epoch k // rows, in that epoch's order; the order is drawn once an
        epoch, not for every row: O(rows) a row was O(rows x batch) a step)."""
        epoch, i = divmod(k, len(self.rows))
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, np.random.default_rng((self.seed, epoch)).permutation(len(self.rows)))
        return int(self._order[1][i])

    def batch(self, step: int, rows: range | None = None) -> Batch:
        B = self.plan[0].sequences
        rows = range(B) if rows is None else rows
        T = self.seq_len
        ids_BT = torch.full((len(rows), T), self.pad_id, dtype=torch.long)
        docs_BT = torch.zeros((len(rows), T), dtype=torch.long)
        labels_BT = torch.full((len(rows), T), IGNORE_INDEX, dtype=torch.long)
        modes_BT = torch.zeros((len(rows), T), dtype=torch.long)  # each target's mode: loss/think, loss/non-think
        domains = []
        for b, r in enumerate(rows):
            members = [self.examples[i] for i in self.rows[self._row(step * B + r)]]
            at = 0
            for d, ex in enumerate(members):
                n = len(ex.ids)
                ids_BT[b, at:at + n] = torch.from_numpy(ex.ids)
                docs_BT[b, at:at + n] = d
                # the target of position t is token t+1: trained where that token is in the completion
                labels_BT[b, at + ex.n_prompt - 1:at + n - 1] = ids_BT[b, at + ex.n_prompt:at + n]
                modes_BT[b, at + ex.n_prompt - 1:at + n - 1] = self.domains.index(ex.mode)
                at += n
            docs_BT[b, at:] = len(members)  # padding is its own document, never a target
            # the row is counted by its members' mode ("mixed": both); its losses are split per target by modes_BT,
            # so a hybrid run (mode "keep" on think and non-think rows) logs loss/think and loss/non-think every step
            # both are drawn, where whole rows of one mode were rare
            modes = {ex.mode for ex in members}
            domains.append(modes.pop() if len(modes) == 1 else "mixed")
        return Batch(ids_BT, docs_BT, labels_BT, domains, modes_BT)

    def state_dict(self) -> dict:
        return {"seed": self.seed, "rows": len(self.rows), "data_sha256": self.fingerprint}

    def load_state_dict(self, state: dict) -> None:
        # the row count alone misses other data that packs to as many rows; the fingerprint does not (checkpoints
        # from before it was stored are checked by seed and row count only)
        same_data = state.get("data_sha256", self.fingerprint) == self.fingerprint
        if int(state["seed"]) != self.seed or int(state.get("rows", len(self.rows))) != len(self.rows) or not same_data:
            raise ValueError("the checkpoint was trained on other chat data (or the same rendered with another [sft] "
                             "seq_len, mode or template) or another [data] seed: resume with the recipe and data the "
                             "run started with")


def run_sft(recipe: SFTRecipe, resume: bool = False, start_over: bool = False) -> dict:
    """Train; returns the logged rows, the data report and (when [sft] export) the exported folder. `start_over`:
    as the Trainer's (the demo's post-training, which owns its folders)."""
    codec = recipe.chat_codec()
    out = Path(recipe.run.out_dir)
    # the model folder is locked as `axk1 export` locks it, from before training to the end of the export
    with exporting_lock(recipe.export_dir, recipe.export_option):
        if recipe.export_dir:  # found now, not by the export after the last step
            check_output_folder(recipe.export_dir)
        sampler = ChatSampler(recipe, codec, recipe.model.build_config().vocab_size)
        # SFT's steps are known once the chat rows are packed: checked now, before the model is built
        check_warmup(recipe.schedule.warmup_steps, recipe.schedule.total_steps or sampler.total_steps,
                     "[schedule] total_steps" if recipe.schedule.total_steps else
                     f"[sft] epochs x {len(sampler.rows):,} packed rows over [batch]'s sequences a step")
        trainer = Trainer(recipe, resume=resume, sampler=sampler, start_over=start_over)
        # the folder stays locked until the export is written: released after fit, a second run could start in it
        # (and write its checkpoints and metrics) while the model folder was being written
        try:
            if trainer.is_main:
                print(sampler.report.summary(), flush=True)
                dp_size = trainer.parallel.dp_size if trainer.parallel else 1
                for note in batch_notes(recipe) + micro_batch_notes(recipe, dp_size):
                    print(f"note: {note}", flush=True)
                out.mkdir(parents=True, exist_ok=True)
                (out / "sft_data_report.json").write_text(json.dumps(sampler.report.to_dict(), indent=2))
            rows = trainer.fit(release=False)
            result = {"rows": rows, "data": sampler.report.to_dict(), "checkpoints": str(trainer.ckpt_dir),
                      "model_dir": None, "stopped_by": trainer.stopped_by, "step": trainer.state.step,
                      "total_steps": trainer.total_steps, "is_main": trainer.is_main}
            # a run stopped by SIGTERM is not finished: exported, its checkpoint would pass for the trained model
            if recipe.export_dir and not trainer.stopped_by:  # every rank writes its share of the folder
                result["model_dir"] = str(export_after_training(trainer.ckpt_dir, recipe.export_dir,
                                                                recipe.sft.template_from, trainer.parallel is not None,
                                                                codec.chat_template))
            return result
        finally:
            trainer.release()
