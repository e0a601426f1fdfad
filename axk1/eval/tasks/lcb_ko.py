"""LiveCodeBench-ko: the English window's problems with `question_content` translated to Korean.

Instruction sentences stay in English (recorded in the info as `instructions: en`); grading is identical to
`lcb`. Problems whose translation fails the survival check are excluded with the reason; a problem whose
translation request failed stays in the set with its samples request_failed (the score is then incomplete).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from axk1.eval.tasks.base import TaskData, TaskOptions, apply_limit, register
from axk1.eval.tasks.lcb import LCBTask
from axk1.eval.translate import TranslationCache, translate_all


@register("lcb-ko")
class LCBKoTask(LCBTask):
    name = "lcb-ko"
    published = "lcb-ko"
    option_defaults = {"translation_cache": None,  # JSON cache of translations (CLI: DIR/lcb-ko-translations.json)
                       "translator": None}  # a Backend that translates (CLI: the model under evaluation)

    path_keys = ("translation_cache",)
    target_keys = ("translator",)

    @classmethod
    def add_arguments(cls, parser) -> None:  # the --lcb-* flags come from LCBTask
        parser.add_argument("--translator", default=None, metavar="TARGET",
                            help="lcb-ko translator TARGET (default: the evaluated model)")
        parser.add_argument("--translation-cache", default=None, metavar="FILE",
                            help="default: DIR/lcb-ko-translations.json")

    @classmethod
    def configure(cls, args, options: TaskOptions, out: Path, backend) -> None:
        super().configure(args, options, out, backend)
        translator = backend
        if args.translator and args.translator != args.model:
            # Loaded here, so a run without lcb-ko never loads (or needs) a translator.
            from axk1.eval.backend_target import load_backend

            translator = load_backend(args.translator, api_key_env=args.api_key_env, concurrency=args.concurrency)
        options.set("translator", translator)
        options.set("translation_cache", args.translation_cache or str(out / "lcb-ko-translations.json"))

    def load(self, options: TaskOptions) -> TaskData:
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
