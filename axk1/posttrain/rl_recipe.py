"""The `axk1 rl` recipe: a training recipe (model, optimizer, schedule, batch, moe, parallelism, checkpointing,
logging, run) plus an [rl] section. Defaults follow A.X K1's recipe (GSPO inside DAPO's conventions, R = R_correct
± 1 + R_format, both prompt variants) where it is known; clip ranges and sizes are assumptions (not published).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from axk1.api_key import SERVER_KEY_ENV, check_env_name
from axk1.config import parse_dtype
from axk1.posttrain.policy_loss import AGGREGATIONS, NOT_OFFERED, TRL_LOSS_TYPES
from axk1.posttrain.recipe_rules import ChatTable, PostTrainRecipe
from axk1.sampling_ranges import sampling_problems
from axk1.train.recipe import load_recipe, parse_recipe
from axk1.train.recipe_sections import LoggingConfig, RecipeModelConfig, ScheduleConfig
from axk1.train.step_checks import check_warmup


@dataclass
class RLConfig(ChatTable):           # template_from, export
    tasks: list[str] = field(default_factory=list)  # JSONL of verified tasks (axk1 posttrain tasks → train.jsonl)
    modes: list[str] = field(default_factory=lambda: ["think", "non-think"])  # think prompts end with <think>,
    # non-think prompts with </think>; every task drawn is prompted in each of them
    iterations: int = 20             # rollout batches
    prompts_per_step: int = 8        # groups drawn per rollout batch: prompts_per_step / len(modes) tasks, each in
                                     # every mode (dynamic sampling drops the flat groups and refills within
                                     # max_sampling_rounds)
    group_size: int = 8              # G completions per prompt
    max_new_tokens: int = 96
    temperature: float = 1.0
    top_p: float = 1.0
    updates_per_batch: int = 2       # optimizer steps per rollout batch (minibatches): ratio ≠ 1 from the second on
    level: str = "sequence"          # "sequence" (GSPO) | "token" (GRPO)
    clip_low: float = 3e-3           # GSPO's sequence ratios sit near 1: far narrower than GRPO's 0.2 / 0.28
    clip_high: float = 4e-3
    aggregation: str = "token_mean"  # DAPO's token-level mean; see policy_loss.AGGREGATIONS
    advantage_scale: str = "group"   # "group" | "batch" | "none"
    beta: float = 0.0                # KL to the frozen starting model (k3); 0 = none, as DAPO
    dynamic_sampling: bool = True    # drop groups whose rewards are all equal, sample more prompts to refill
    max_sampling_rounds: int = 3
    overlong: str = "filter"         # "filter" (truncated completions leave the loss) | "penalty" | "none"
    overlong_buffer: int = 16        # "penalty": the last this-many tokens before the limit cost up to −1
    format_penalty: float = -1.0     # R_format when the think tags are violated
    # Rollouts on an inference server instead of in the training processes (axk1/posttrain/rollout_server.py):
    server_url: str = ""             # e.g. "http://10.0.0.5:8000": `axk1 serve --enable-weight-updates` or SGLang
    server_model: str = ""           # the model name it serves ("" = the first of its /v1/models)
    server_api_key_env: str = SERVER_KEY_ENV  # environment variable holding its API key (unset: none sent)
    server_concurrency: int = 8      # prompts in flight at once
    server_timeout_s: float = 3600.0  # one request (a prompt's G completions; a weight update, waiting while busy)
    weights_dir: str = ""            # where each update's weights are written for it, on a file system both
    # see (relative to [run] out_dir; "" = rollout-weights)
    push_dtype: str = "float32"      # the pushed weights' dtype: "bfloat16" halves what is written and loaded each
    # update (A.X K1: 2.1 TB in fp32), as the release ships and a server computes; "float32" is the trainer's own


@dataclass
class RLRecipe(PostTrainRecipe):
    rl: RLConfig = field(default_factory=RLConfig)
    verb = "axk1 rl"
    table, renders = "rl", "prompts"
    length_key = "[rl] max_new_tokens"
    context_parallel = False  # validate refuses cp > 1
    needs_batch_size = False  # [rl] prompts_per_step x group_size; [batch] micro_batch still sets the forward size
    init_from_required = True  # RL starts from a trained model (an SFT export): validate refuses a recipe without one

    path_keys = PostTrainRecipe.path_keys + ("rl.tasks", "rl.template_from")
    rows_must_divide = False  # a rank with fewer of a minibatch's completions runs padding micro-batches

    def step_shapes(self) -> list[tuple[str, int, int]]:
        """One optimizer step: the largest minibatch's completions (whole groups), each row its prompt and up to
        max_new_tokens, at the longest prompt the tasks render to."""
        s = self.rl
        groups = -(-s.prompts_per_step // s.updates_per_batch)
        return [("rl", longest_prompt(self) + s.max_new_tokens, groups * s.group_size)]

    def step_account(self, config, seq_len: int, micro_batch: int, world_size: int, accelerator: bool = True):
        from axk1.parallel.activation_checkpoint import normalize_mode
        from axk1.posttrain.rl_memory import rl_step_memory

        p = self.parallelism
        return rl_step_memory(config, dp_shard=p.dp_shard, ep=p.ep, seq_len=seq_len, micro_batch=micro_batch,
                              recompute=normalize_mode(p.activation_checkpointing) == "full", precision=p.precision,
                              one_process=world_size == 1, completion_tokens=micro_batch * self.rl.max_new_tokens,
                              kl_reference=self.rl.beta > 0, accelerator=accelerator)

    def launch_problems(self, config, world_size: int, limit_gb: float, on_gpus: bool) -> list[str]:
        from axk1.posttrain.rl_memory import replica_bytes

        replica = replica_bytes(config) / 1e9
        if world_size > 1 and not self.rl.server_url and on_gpus and replica > 0.5 * limit_gb:
            return [f"without [rl] server_url the main rank holds a whole replica of the model for rollouts "
                    f"({replica:,.1f} GB of weights, before its cache) beside its shard of training: set [rl] "
                    "server_url to an inference server (docs/posttraining.md, \"At scale\")"]
        return []

    out_keys = PostTrainRecipe.out_keys + ("rl.weights_dir",)  # written by the run: relative to [run] out_dir

    def resolve_paths(self, base: Path) -> None:
        self.rl.weights_dir = self.rl.weights_dir or "rollout-weights"
        super().resolve_paths(base)  # path_keys, template_from and out_keys

    def refuse_unread(self) -> None:
        """Pretraining settings `axk1 rl` does not read, refused rather than accepted and ignored (recipe_rules.py):
        each one's message says why and what to do."""
        if self.run.spike_zscore:  # a policy-gradient loss swings with the advantages: no baseline to judge it by
            raise ValueError(f"[run] spike_zscore = {self.run.spike_zscore} is not read by `axk1 rl`: an RL update's "
                             "loss follows the batch's advantages, not a falling curve, so a z-score against recent "
                             "updates judges nothing; remove it (non-finite updates are still dropped, and [run] "
                             "max_bad_steps still stops the run)")
        if self.checkpointing.async_:
            raise ValueError("[checkpointing] async = true is not read by `axk1 rl`, which writes its checkpoints "
                             "synchronously (a rollout server or the next rollout reads the weights right after); "
                             "remove it or set async = false")
        if self.model.mtp_loss_weight != RecipeModelConfig().mtp_loss_weight:  # RL's loss is the policy's alone
            raise ValueError(f"[model] mtp_loss_weight = {self.model.mtp_loss_weight} is not read by `axk1 rl`, whose "
                             "loss is the policy's alone (no MTP loss); remove it")
        if self.model.mtp_depth:  # the default (1) is pretraining's: RL's recipes say 0
            raise ValueError(f"[model] mtp_depth = {self.model.mtp_depth} is not read by `axk1 rl`, which trains the "
                             "next-token policy: an MTP head would be built, held in memory and never trained (RL's "
                             "checkpoints and export carry none); set mtp_depth = 0 in [model]")
        if self.schedule.decay_starts_at_stage != ScheduleConfig().decay_starts_at_stage:
            raise ValueError(f"[schedule] decay_starts_at_stage = {self.schedule.decay_starts_at_stage} is not read by "
                             "`axk1 rl`, which has no stages (a \"wsd\" schedule stays flat after its warmup); "
                             "remove it, or use kind = \"cosine\" for a decay")
        if self.logging.every_steps != LoggingConfig().every_steps:  # an iteration is a rollout and its updates
            raise ValueError(f"[logging] every_steps = {self.logging.every_steps} is not read by `axk1 rl`, which "
                             "logs every iteration (the metrics file, TensorBoard, and a printed line where stderr "
                             "is not a terminal); remove it")
        if self.moe.seq_aux_loss_alpha:
            raise ValueError(f"[moe] seq_aux_loss_alpha = {self.moe.seq_aux_loss_alpha} is not read by `axk1 rl`: "
                             "its loss is the policy's alone and the routing is the base model's (post-training "
                             "keeps it); set seq_aux_loss_alpha = 0")

    def validate(self) -> None:
        super().validate()
        s = self.rl
        check_env_name(s.server_api_key_env, "[rl] server_api_key_env")  # when read, not after the model loads
        if self.parallelism.cp > 1:  # when the file is read: it was found at launch, after the weights loaded
            raise ValueError("[parallelism] cp > 1: RL's log-probabilities do not run under context parallelism yet; "
                             "set cp = 1 (completions are short: data parallelism and EP carry RL)")
        if not s.tasks:
            raise ValueError("[rl] tasks must list at least one JSONL of verified tasks (axk1 posttrain tasks)")
        for p in s.tasks:
            if not Path(p).exists():
                # the 519B recipe's tasks are the demo's, which the README's `axk1 posttrain tasks` step writes: a
                # dry run before that step named the key but not the flag or the command that makes the file
                raise FileNotFoundError(f"[rl] tasks file {p} not found: make it (`axk1 posttrain tasks -o DIR` writes "
                                        "the demo's DIR/train.jsonl) or name your own verified tasks with --rl.tasks "
                                        "'[\"FILE.jsonl\"]' (docs/posttraining.md, \"Task files\")")
        if self.batch.global_tokens or self.batch.global_sequences:  # read by pretraining and SFT, never here
            raise ValueError("[batch] global_tokens / global_sequences do not size RL's steps: [rl] prompts_per_step x "
                             "group_size completions are sampled, in updates_per_batch optimizer steps; remove them "
                             "([batch] micro_batch still sets the rows of a forward)")
        if self.run.max_steps:  # pretraining's and SFT's step cap; RL counts iterations, and would run them all
            raise ValueError(f"[run] max_steps = {self.run.max_steps} is not read by `axk1 rl`, which counts "
                             "iterations (rollout, reward, update): set [rl] iterations (or --max-steps) instead")
        self.refuse_unread()
        if self.model.init_from is None:
            raise ValueError("[model] init_from must name the model folder RL starts from (an SFT export)")
        self.check_template()
        if min(s.iterations, s.updates_per_batch) >= 1:  # else refused below
            check_warmup(self.schedule.warmup_steps, self.schedule.total_steps or s.iterations * s.updates_per_batch,
                         "[schedule] total_steps" if self.schedule.total_steps else
                         "[rl] iterations x updates_per_batch")
        if not s.modes or any(m not in ("think", "non-think") for m in s.modes) or len(set(s.modes)) < len(s.modes):
            raise ValueError(f"[rl] modes must list \"think\" and/or \"non-think\", each once, got {s.modes}")
        if s.prompts_per_step % len(s.modes):  # each task drawn is prompted in every mode
            raise ValueError(f"[rl] prompts_per_step = {s.prompts_per_step} does not divide over the "
                             f"{len(s.modes)} modes: every task drawn is prompted in each mode, so make it a multiple "
                             f"of {len(s.modes)}")
        if s.level not in ("sequence", "token"):
            raise ValueError(f"[rl] level {s.level!r}: use \"sequence\" (GSPO) or \"token\" (GRPO)")
        if s.aggregation in NOT_OFFERED:
            raise ValueError(f"[rl] aggregation {s.aggregation!r}: {NOT_OFFERED[s.aggregation]}")
        if s.aggregation not in AGGREGATIONS and s.aggregation not in TRL_LOSS_TYPES:
            raise ValueError(f"[rl] aggregation {s.aggregation!r}: use one of {', '.join(AGGREGATIONS)} (or TRL's "
                             f"{', '.join(TRL_LOSS_TYPES)})")
        if s.overlong not in ("filter", "penalty", "none") or s.overlong_buffer < 0:
            raise ValueError("[rl] overlong must be \"filter\", \"penalty\" or \"none\", overlong_buffer >= 0")
        if s.advantage_scale not in ("group", "batch", "none"):
            raise ValueError("[rl] advantage_scale must be \"group\", \"batch\" or \"none\"")
        if min(s.iterations, s.prompts_per_step, s.max_new_tokens, s.updates_per_batch, s.max_sampling_rounds) < 1:
            raise ValueError("[rl] iterations, prompts_per_step, max_new_tokens, updates_per_batch and "
                             "max_sampling_rounds must be >= 1")
        if s.group_size < 2:
            raise ValueError("[rl] group_size must be >= 2: the advantage is a reward against its group's mean")
        for name in ("temperature", "top_p", "clip_low", "clip_high", "beta", "format_penalty"):
            if not math.isfinite(getattr(s, name)):  # NaN passes every comparison below and poisons the rewards
                raise ValueError(f"[rl] {name} must be a finite number, got {getattr(s, name)}")
        problems = sampling_problems(s.temperature, s.top_p)  # the ranges every generator shares
        if problems:
            name = next(iter(problems))
            raise ValueError(f"[rl] {name} must be {problems[name]}, got {getattr(s, name)}")
        # ...and a rollout group must differ: greedy (temperature 0) would give every answer of a group the same reward
        if not (0 <= s.clip_low < 1 and s.clip_high >= 0) or s.beta < 0 or s.temperature <= 0:
            raise ValueError("[rl] needs 0 <= clip_low < 1, clip_high >= 0, beta >= 0, temperature > 0")
        if s.format_penalty > 0:
            raise ValueError(f"[rl] format_penalty is added to the reward of a badly tagged answer: it must be <= 0 "
                             f"(A.X K1: -1), got {s.format_penalty}")
        if s.server_url and not s.server_url.startswith(("http://", "https://")):
            raise ValueError(f"[rl] server_url must be an http(s) URL such as \"http://10.0.0.5:8000\", got "
                             f"{s.server_url!r}")
        # the trainer's own dtype or the release's: a server computing in float16 could overflow where bf16 does not
        parse_dtype(s.push_dtype, "[rl] push_dtype", choices=("float32", "bfloat16"))
        if s.server_concurrency < 1 or not (s.server_timeout_s > 0 and math.isfinite(s.server_timeout_s)):
            raise ValueError(f"[rl] server_concurrency must be >= 1 and server_timeout_s a positive number of seconds, "
                             f"got {s.server_concurrency} and {s.server_timeout_s}")


def load_rl_recipe(path: str | Path, overrides: list[str] | None = None, **run: object) -> RLRecipe:
    return load_recipe(path, overrides, cls=RLRecipe, example="recipes/posttrain/rl.toml", **run)


def parse_rl_recipe(raw: dict, base_dir: str | Path) -> RLRecipe:
    return parse_recipe(raw, base_dir, cls=RLRecipe)


def prompt_budget(recipe: RLRecipe, codec, context: int):
    """The room a task's prompt has in RL: the training length (`context`, the model's max_position_embeddings)
    less [rl] max_new_tokens, in each of [rl] modes. Not the model's context_length: RL trains on its rollouts, and
    a YaRN model's extended length is one it serves, not one it trained at (heldout, which only generates, takes
    that: posttrain/cli.py)."""
    from axk1.posttrain.task_length import PromptBudget

    return PromptBudget(codec, tuple(recipe.rl.modes), recipe.rl.max_new_tokens, context, "[rl] max_new_tokens",
                        "the training length (max_position_embeddings)",
                        "start from a model trained at a longer max_position_embeddings")


def longest_prompt(recipe: RLRecipe, candidates: int = 64) -> int:
    """Tokens of the longest prompt RL renders from the tasks, in any of its modes (task_length.longest_prompt_ids).
    The tasks are read as the run reads them, so a prompt with no room in the model's context for [rl]
    max_new_tokens stops the dry run too, named by path:line."""
    from axk1.posttrain.task_length import longest_prompt_ids
    from axk1.posttrain.tasks import read_task_rows

    codec = recipe.chat_codec()
    budget = prompt_budget(recipe, codec, recipe.model.build_config().max_position_embeddings)
    prompts = [str(t["prompt"]) for t in read_task_rows(recipe.rl.tasks, codec, budget)]
    return len(longest_prompt_ids(codec, prompts, recipe.rl.modes, candidates))
