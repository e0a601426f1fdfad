"""LiveCodeBench-ko: the English window's problems with `question_content` translated to Korean.

Instruction sentences stay in English (recorded in the info as `instructions: en`); grading is identical to
`lcb`. Problems whose translation fails the survival check are excluded with the reason; a problem whose
translation request failed stays in the set with its samples request_failed (the score is then incomplete).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from axk1.eval.tasks.base import TaskData, apply_limit, flag, register
from axk1.eval.tasks.lcb import LCBOptions, LCBTask
from axk1.eval.translate import TranslationCache, translate_all


@dataclass
class LCBKoOptions(LCBOptions):
    translation_cache: str | None = None  # JSON cache of translations (CLI: DIR/lcb-ko-translations.json)
    translator: Any = None  # a Backend that translates (CLI: the model under evaluation)


@dataclass
class LCBKoConfig:
    translator: str | None = flag(None, "lcb-ko translator TARGET (default: the evaluated model)", metavar="TARGET")
    translation_cache: str | None = flag(None, "default: DIR/lcb-ko-translations.json", metavar="FILE")
    path_keys = ("translation_cache",)  # (ClassVars: no annotation) resolved by a --config file
    target_keys = ("translator",)


@register("lcb-ko")
class LCBKoTask(LCBTask):
    name = "lcb-ko"
    published = "lcb-ko"
    counterpart = "lcb"
    Config = LCBKoConfig  # the --lcb-* flags come from LCBTask
    Options = LCBKoOptions

    @classmethod
    def configure(cls, cfg, options: LCBKoOptions, out: Path, backend) -> None:
        super().configure(cfg, options, out, backend)
        translator = backend
        if cfg.translator and cfg.translator != cfg.model:
            # Loaded here, so a run without lcb-ko never loads (or needs) a translator.
            from axk1.eval.backend_target import load_backend

            translator = load_backend(cfg.translator, api_key_env=cfg.api_key_env, concurrency=cfg.concurrency,
                                      flag="--translator")
        options.translator = translator
        options.translation_cache = cfg.translation_cache or str(out / "lcb-ko-translations.json")

    def load(self, options: LCBKoOptions) -> TaskData:
        if options.translator is None:
            raise ValueError("lcb-ko needs a translator backend (the CLI uses --translator, or the model itself)")
        kept, excluded, failed = self.select(options)
        rows = len(kept) + len(excluded) + len(failed)  # every row of the release's files, before the window
        if options.limit is not None:
            kept = kept[:options.limit]
        cache = TranslationCache(options.translation_cache)
        translations, version = translate_all({p.question_id: p.content for p in kept}, options.translator, cache)
        problems = []
        for p in kept:
            t = translations[p.question_id]
            if t.ok:
                problems.append(self.make_problem(p, t.text, options))
            elif t.failed:  # no reply from the translator: the problem stays, unanswered (see Problem.unavailable)
                why = "; ".join(t.problems)[:300]
                problems.append(replace(self.make_problem(p, "", options), messages=[],
                                        unavailable=f"its translation request failed ({why}); run again"))
            else:
                excluded.append({"question_id": p.question_id, "reason": "translation failed the survival check: "
                                 + "; ".join(t.problems)[:300]})
        if not problems:
            raise ValueError(f"no LCB-ko problem survived translation ({len(kept)} tried); see the excluded reasons "
                             f"in {options.translation_cache or 'the translation cache'}")
        info = self.info(apply_limit(problems, None), options, excluded, failed, rows)
        untranslated = sum(p.unavailable is not None for p in problems)
        info.update(translation_version=version, translator=options.translator.describe(), instructions="en",
                    translated=len(problems) - untranslated, untranslated=untranslated,
                    translation_cache=options.translation_cache)
        return TaskData(problems, info)
