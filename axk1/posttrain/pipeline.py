"""Think-Fusion end to end on a pretrained model folder (what `make demo` runs after pretraining):

tasks (verified, EN/KO, split, decontaminated) → SFT think and SFT non-think (both from the base model) → merge
(α·think + (1−α)·non-think) → mode-overlap SFT (each prompt in both modes) → GSPO → held-out accuracy and
format errors of every model in both modes → a report section with standard errors and the RL curves.

The recipes are `recipes/posttrain/*.toml`; only their paths are moved under the output folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from axk1.checkpoint.merge import merge_folders
from axk1.demo_stage import RECIPES as SHIPPED, end_if_stopped, shipped_recipe
from axk1.json_text import strict_json
from axk1.posttrain.heldout import evaluate_heldout, paired_difference
from axk1.posttrain.overlap import build_overlap
from axk1.posttrain.rl import run_rl
from axk1.posttrain.rl_recipe import parse_rl_recipe
from axk1.posttrain.sft import parse_sft_recipe, run_sft
from axk1.posttrain.tasks import build_task_files, read_tasks, shortcut_rows, to_chat, write_jsonl
from axk1.toml_file import build_dataclass

RECIPES = SHIPPED / "posttrain"
MODES = ("think", "non-think")


@dataclass
class DemoTasksConfig:
    """recipes/posttrain/tasks.toml: the demo's problems and its Think-Fusion constants."""
    train: int = 2000
    heldout: int = 240
    seed: int = 7
    levels: list[int] = field(default_factory=lambda: [2])
    kinds: list[str] = field(default_factory=lambda: ["math"])
    families: list[str] | None = None
    merge_alpha: float = 0.8
    shortcut_share: float = 0.0


def _finished(result: dict, stage: str) -> dict:
    """A stage's result; a stage SIGTERM stopped (a checkpoint, no model folder) ends the demo."""
    end_if_stopped(result.get("stopped_by"), stage)
    return result


def _sft(name: str, init_from: Path, data: list[Path], out: Path, max_steps: int | None) -> Path:
    raw = shipped_recipe(f"posttrain/{name}")
    raw["model"]["init_from"] = str(init_from)
    raw["sft"]["data"] = [str(d) for d in data]
    raw["run"]["out_dir"] = str(out)
    if max_steps is not None:
        raw["run"]["max_steps"] = max_steps
        # the smoke run's few tasks pack into fewer steps than the recipe's warmup, which is refused as a learning
        # rate that never reaches its peak (axk1/train/step_checks.py): it warms up within the steps it takes
        schedule = raw.setdefault("schedule", {})
        schedule["warmup_steps"] = min(schedule.get("warmup_steps", 0), max_steps)
    result = _finished(run_sft(parse_sft_recipe(raw, RECIPES), start_over=True), f"SFT ({name})")  # owns its folders
    print(f"  {result['data']['kept_rows']} rows; loss {result['rows'][0]['loss']:.3f} -> {result['rows'][-1]['loss']:.3f}")
    return Path(result["model_dir"])


def run_posttraining(output: Path, base_model: Path, quick: bool = False) -> dict:
    """All post-training stages under output/posttrain; returns the models, the held-out table and timings.
    quick=True cuts every stage to a few steps (a smoke run, not a measurement)."""
    out = output / "posttrain"
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    steps = 2 if quick else None
    cfg = build_dataclass(DemoTasksConfig, shipped_recipe("posttrain/tasks.toml"), str(RECIPES / "tasks.toml"))
    if quick:
        cfg.train, cfg.heldout = 120, 12

    t = time.perf_counter()
    print("\n== 6. post-training data: verified tasks (EN/KO), split and decontaminated", flush=True)
    tasks = build_task_files(out / "tasks", cfg.train, cfg.heldout, cfg.seed, levels=tuple(cfg.levels),
                             kinds=tuple(cfg.kinds), families=cfg.families, force=True)  # the demo's own folder
    print(f"  {tasks['train']} train / {tasks['heldout']} held-out tasks; removed by decontamination: {tasks['removed']}")
    train = read_tasks(tasks["files"]["train"])
    for mode in MODES:
        write_jsonl(out / f"sft-{mode}.jsonl", [to_chat(x, mode) for x in train])
    timings["tasks"] = time.perf_counter() - t

    models = {"base": base_model}
    t = time.perf_counter()
    print("\n== 7. SFT in think mode and in non-think mode (two models from the base)", flush=True)
    models["sft-think"] = _sft("sft-think.toml", base_model, [out / "sft-think.jsonl"], out / "sft-think", steps)
    models["sft-non-think"] = _sft("sft-non-think.toml", base_model, [out / "sft-non-think.jsonl"], out / "sft-non-think",
                                   steps)
    timings["sft"] = time.perf_counter() - t

    t = time.perf_counter()
    alpha = cfg.merge_alpha
    print(f"\n== 8. merge: {alpha} x think + {1 - alpha:.1f} x non-think, then mode-overlap SFT", flush=True)
    models["merged"] = out / "merged"
    merge_folders(models["sft-think"], models["sft-non-think"], models["merged"], alpha, progress=False)
    pairs = build_overlap([out / "sft-think.jsonl"], out / "overlap.jsonl", [out / "sft-non-think.jsonl"])
    overlap = [out / "overlap.jsonl"]
    shortcuts = shortcut_rows(train, cfg.shortcut_share, cfg.seed)
    if shortcuts:  # think rows whose trace skips the work (docs/posttraining.md, "The demo's tasks")
        overlap.append(out / "think-shortcuts.jsonl")
        write_jsonl(overlap[-1], shortcuts)
    print(f"  {pairs['pairs']} prompt pairs, {len(shortcuts)} shortcut think rows")
    models["overlap"] = _sft("sft-overlap.toml", models["merged"], overlap, out / "sft-overlap", steps)
    timings["merge+overlap"] = time.perf_counter() - t

    t = time.perf_counter()
    print("\n== 9. GSPO with verifiable rewards (R = correct ±1 + format 0/−1), both prompt variants", flush=True)
    raw = shipped_recipe("posttrain/rl.toml")
    raw["model"]["init_from"] = str(models["overlap"])
    raw["rl"]["tasks"] = [tasks["files"]["train"]]
    raw["run"]["out_dir"] = str(out / "rl")
    if quick:
        raw["rl"].update(iterations=1, prompts_per_step=2, group_size=2, max_new_tokens=8, max_sampling_rounds=1)
    rl_recipe = parse_rl_recipe(raw, RECIPES)
    rl = _finished(run_rl(rl_recipe, start_over=True), "RL")  # the demo owns its folders
    models["rl"] = Path(rl["model_dir"])
    timings["rl"] = time.perf_counter() - t

    t = time.perf_counter()
    print("\n== 10. held-out accuracy of every model in both modes (greedy)", flush=True)
    heldout = [x.to_dict() for x in read_tasks(tasks["files"]["heldout"])]
    table = {}
    for name, folder in models.items():
        # as long as RL's rollouts, on the device the runs trained on ([run] device = "auto": a GPU where there is one)
        table[name] = evaluate_heldout(folder, heldout, MODES, max_new_tokens=rl_recipe.rl.max_new_tokens,
                                       device=rl_recipe.run.device)
        print("  " + f"{name:>14}: " + ", ".join(f"{m} {table[name][m]['accuracy']:.3f}" for m in MODES), flush=True)
    timings["heldout"] = time.perf_counter() - t
    gains = {m: paired_difference(table["overlap"][m]["correct"], table["rl"][m]["correct"]) for m in MODES}
    result = {"models": {k: str(v) for k, v in models.items()}, "table": table, "rl_gain": gains,
              "rl_rows": rl["rows"], "rl_dir": str(out / "rl"), "tasks": tasks, "timings": timings}
    # strict JSON: a held-out set without tasks has a NaN standard error, an RL row of a skipped update a NaN loss
    (out / "results.json").write_text(strict_json(result, indent=2, ensure_ascii=False, default=str))
    return result


def report_section(result: dict, output: Path) -> list[str]:
    """Markdown lines for out/report.md: the held-out table, RL's gain with its standard error, the curves."""
    table, n = result["table"], next(iter(result["table"].values()))["think"]["n"]
    lines = ["## Post-training (Think-Fusion)", "",
             f"Held-out accuracy on {n} generated problems never trained on (greedy; ± one standard error), and the "
             "share of answers that break the think-tag format:", "",
             "| model | think: accuracy | think: format errors | non-think: accuracy | non-think: format errors |",
             "|---|---:|---:|---:|---:|"]
    for name, r in table.items():
        cells = [f"{r[m]['accuracy']:.3f} ± {r[m]['accuracy_se']:.3f} | {r[m]['format_error']:.3f} ± "
                 f"{r[m]['format_error_se']:.3f}" for m in MODES]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    lines += ["", "RL against the checkpoint it started from (the mode-overlap model), paired over the same problems:", ""]
    for m, (gain, se) in result["rl_gain"].items():
        verdict = "more than two standard errors" if gain > 2 * se else "within two standard errors"
        lines.append(f"- {m}: {gain:+.3f} ± {se:.3f} ({verdict})")
    plot = Path(result["rl_dir"]) / "rl_curves.png"  # drawn by the RL run itself (plots.RLPlots)
    lines += ["", f"![RL reward and length]({plot.relative_to(output)})" if plot.exists() else
              f"(no RL curves: {plot} was not written)", ""]
    return lines
