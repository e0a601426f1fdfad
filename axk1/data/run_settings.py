"""The settings an output folder was made with, so that a relaunch with other settings is not silently a no-op.

datatrove keeps a completion marker per finished task and skips those tasks when the pipeline is launched again:
that is how a crashed or preempted run resumes. But it does not know what a task was run with, so after a
settings change (`--filters.quality.min_words 100000`) the relaunch finished in half a second and printed the old
counts. `run.output_dir/settings.json` records what shapes the outputs; a launch with other settings is refused,
naming the keys that changed, unless `--force` (which deletes the run's old outputs, and only those:
axk1/data/run_folder.py, and runs afresh). Settings that name a model or tokenizer file are recorded with a digest
of its content too: a model retrained under the same path changes what the run keeps, and the path alone did not
show it. Paths are recorded resolved (absolute, links followed): the same pipeline launched from another folder,
or with a relative path for an absolute one, names the same files and is the same run.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
from pathlib import Path
from typing import Any

from axk1.atomic_file import atomic_writer
from axk1.data.config import PipelineConfig
from axk1.data.run_folder import SETTINGS_FILE, check_inputs, clear_run_folder
from axk1.json_text import read_json_file
from axk1.settings_snapshot import flat_settings, json_safe
# how the run is executed, not what it makes: free to change between launches (run.tasks is not: it shards inputs)
NOT_OUTPUT_SHAPING = {"run.workers", "run.executor", "run.start_method", "run.stages"}
# settings naming files (or a model folder) whose content shapes the outputs; a table by language flattens under them
CONTENT_SHAPING = ("filters.perplexity.model", "filters.decontamination.benchmarks", "annotate.domain_model",
                   "annotate.reference_model", "tokenize.tokenizer")
_WHOLE = 64 << 20  # files up to this size are hashed whole; larger ones by size and their first and last MiB


def content_digest(path: Path) -> str:
    """sha256 of a file's content, or of a folder's files (names and contents), cheap for multi-GB weights.

    Not checkpoint.fingerprint.weights_fingerprint, though annotate.reference_model is a model folder too: that one
    hashes config.json and the weights only, and the reference model's tokenizer.json shapes its perplexities as
    much; and every settings.json recorded so far holds this digest, so another one would refuse their relaunch."""
    h = hashlib.sha256()
    for f in sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()):
        size = f.stat().st_size
        h.update(f"{f.relative_to(path) if f != path else f.name}\0{size}\0".encode())
        with f.open("rb") as stream:
            if size <= _WHOLE:
                h.update(stream.read())
            else:
                h.update(stream.read(1 << 20))
                stream.seek(size - (1 << 20))
                h.update(stream.read())
    return h.hexdigest()


def _is_path_key(key: str) -> bool:
    """A flat key holding a path: one of PipelineConfig.path_keys, or an entry of one (a model by language)."""
    return any(fnmatch.fnmatchcase(key, k) or fnmatch.fnmatchcase(key, f"{k}.*") for k in PipelineConfig.path_keys)


def _resolved(value: Any, base: Path | None = None) -> Any:
    """A path setting as the files it names: resolved against `base` (the current folder, as the run opens it;
    None leaves a relative path of an old settings.json as it is). "" and what is not a string stay."""
    if isinstance(value, list):
        return [_resolved(v, base) for v in value]
    if not isinstance(value, str) or not value:
        return value
    path = Path(value) if base is None or Path(value).is_absolute() else base / value
    return str(path.resolve()) if path.is_absolute() else value


def _path_setting(key: str, value: Any, base: Path | None) -> Any:
    """_resolved, but for the names the key declares as no file (PipelineConfig.builtin_names: "humaneval")."""
    keep = PipelineConfig.builtin_names.get(key, ())
    if isinstance(value, list):
        return [v if v in keep else _resolved(v, base) for v in value]
    return value if value in keep else _resolved(value, base)


# Settings added after runs were recorded without them, each with the value that reproduces how such a run was made:
# near-duplicates removed on LSH alone before the candidate-pair check (axk1/data/dedup_check.py) existed; the
# Korean average word length range and letter share applied to every language before other languages had theirs;
# English documents had no stop-word rule; Japanese and Chinese documents counted the tokenizer's words (clauses).
ADDED_LATER = {"dedup.min_jaccard": 0.0, "filters.quality.min_avg_word_length_other": 0.0,
               "filters.quality.max_avg_word_length_other": 0.0, "filters.quality.min_alpha_words_ratio_other": 0.0,
               "filters.quality.min_stop_words_en": 0, "filters.quality.chars_per_word_ja": 0.0,
               "filters.quality.chars_per_word_zh": 0.0}
# Those of them that decide the documents of one language alone: a run whose filters.languages did not keep that
# language never had such a document reach the rule, so it resumes under this launch's value without being asked.
ADDED_LATER_LANGUAGE = {"filters.quality.chars_per_word_ja": "ja", "filters.quality.chars_per_word_zh": "zh"}


def _added_later(before: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """The value each ADDED_LATER setting had in a run recorded before it existed: its old behaviour, or this
    launch's value where that run kept no document of the one language the setting decides."""
    languages = before.get("filters.languages")
    kept = languages if isinstance(languages, list) else []
    return {k: now[k] if k in now and k in ADDED_LATER_LANGUAGE and ADDED_LATER_LANGUAGE[k] not in kept else v
            for k, v in ADDED_LATER.items()}


def _recorded(before: dict[str, Any], out: Path, now: dict[str, Any]) -> dict[str, Any]:
    """A settings.json as this version writes it. One written before paths were resolved holds them as the run
    was given them, relative paths relative to the folder it was launched from: that folder is found from
    run.output_dir, which names this very folder, so that a run made then still resumes. `now`: this launch's
    settings (for ADDED_LATER_LANGUAGE)."""
    old_out = before.get("run.output_dir")
    base = None
    if isinstance(old_out, str) and old_out and not Path(old_out).is_absolute() and ".." not in Path(old_out).parts:
        depth = len(Path(old_out).parts)  # "out" -> 1, "." -> 0
        parents = out.resolve().parents
        if depth <= len(parents):  # (a folder moved to a shallower place cannot be the one it names)
            base = parents[depth - 1] if depth else out.resolve()
    before = {**_added_later(before, now), **before}  # a run recorded before a setting: its old behaviour
    return {k: _path_setting(k, v, base) if _is_path_key(k) else v for k, v in before.items()}


def output_settings(cfg: PipelineConfig) -> dict[str, Any]:
    """The settings that shape the outputs, flat (`filters.quality.min_words`), JSON-safe, paths resolved."""
    flat = flat_settings(json_safe(dataclasses.asdict(cfg)), whole_lists=True)
    flat = {k: _path_setting(k, v, Path.cwd()) if _is_path_key(k) else v for k, v in flat.items()}
    out = {k: v for k, v in flat.items() if k not in NOT_OUTPUT_SHAPING}
    for k, value in flat.items():  # not what the run makes itself (a tokenizer its own stage trains into the folder)
        if not k.startswith(CONTENT_SHAPING):
            continue
        named = value if isinstance(value, list) else [value]  # a list of files (benchmarks): a digest each
        for i, v in enumerate(named):
            if isinstance(v, str) and v and Path(v).exists() \
                    and not Path(v).resolve().is_relative_to(cfg.out.resolve()):
                out[f"{k}.{i}.sha256" if isinstance(value, list) else f"{k}.sha256"] = content_digest(Path(v))
    return out


def check_settings(cfg: PipelineConfig, force: bool = False, pipeline_file: str | Path | None = None) -> None:
    """Refuse (ValueError) to launch into an output folder made with other settings or over other input files,
    unless `force`, which deletes the run's earlier outputs first (refused where the folder holds anything else,
    a source or `pipeline_file`: axk1/data/run_folder.py); then record this launch's settings and inputs there."""
    out = cfg.out
    path = out / SETTINGS_FILE
    settings = output_settings(cfg)
    if force:
        keep = [Path(s.path) for s in cfg.sources] + ([Path(pipeline_file)] if pipeline_file else [])
        clear_run_folder(cfg, keep)
    elif path.exists():
        # a damaged file cannot vouch for the outputs beside it: refused as other settings are, not passed over
        damaged = (f"the settings of the run in {out} are damaged (a launch killed while writing them?): pass "
                   f"--force to delete the pipeline's outputs in {out} and run afresh, or delete {path} if this "
                   "launch's settings are the ones that run was made with")
        before_file = read_json_file(path, damaged, what="data-run settings", need_object=True)
        before = _recorded(before_file, out, settings)
        changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
        if changed:
            shown = ", ".join(f"{k} ({before.get(k)!r} -> {settings.get(k)!r})" for k in changed[:4])
            more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
            newer = [k for k in changed if k in ADDED_LATER and k not in before_file]
            since = "".join(f" ({k} is newer than that run, made as {k} = {ADDED_LATER[k]!r}: pass --{k} "
                            f"{ADDED_LATER[k]!r} to go on with it as it was made)" for k in newer)
            raise ValueError(f"{out} holds a pipeline run made with other settings: {shown}{more}{since}. A relaunch "
                             "skips the tasks it finished and would keep their old results: pass --force to delete "
                             f"the pipeline's outputs in {out} and run afresh, or set another run.output_dir")
    check_inputs(cfg, force)  # before anything is written: a refused launch leaves the folder as it was
    out.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path) as f:  # a kill mid-write must not leave a file every relaunch then fails to read
        f.write(json.dumps(settings, indent=1, sort_keys=True))
