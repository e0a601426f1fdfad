"""How often a recipe reads each domain's tokens: per stage, the tokens its mixture draws from a domain (the
stage's steps × sequences × length × the domain's share) against the tokens the manifest holds for it (in the
stage's buckets). Printed when a run starts and by `axk1 train --dry-run`, so that a mixture which reads a small
domain dozens of times is seen before the GPUs are spent, not from the loss curve.

Why it matters: repeated tokens are worth less than fresh ones, and past about four passes their value falls
quickly (Muennighoff et al., "Scaling Data-Constrained Language Models", 2023; the planner's data-constrained law,
docs/planning.md). MANY_PASSES is that mark. The sampler draws windows (each document cut into pieces of the row's
length, axk1/train/data.py::window_start) weighted by their length, with replacement: every token the shards hold
can be read, which is what `available` counts, and a pass is an expectation, not a literal epoch. (When rows
started at document starts only, a document's tokens past its first row were counted here yet never read.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from axk1.train.recipe import Recipe

MANY_PASSES = 4.0


@dataclass
class BudgetRow:
    stage: str
    domain: str
    share: float      # of the stage's tokens (the mixture's weights over the domains with data)
    drawn: int        # tokens the stage reads from the domain
    available: int    # tokens the manifest holds for the domain in the stage's buckets

    @property
    def passes(self) -> float:
        return self.drawn / self.available if self.available else float("inf")


@dataclass
class Budget:
    rows: list[BudgetRow]                  # per stage and domain
    totals: dict[str, tuple[int, int]]     # per domain over the run: tokens drawn, tokens held in the buckets read
    unread: dict[str, int]                 # tokens of the shards no stage reads, per domain

    def table(self) -> str:
        lines = [f"{'stage':<28} {'domain':<14} {'share':>6} {'drawn':>14} {'held':>14} {'passes':>7}"]
        for r in self.rows:
            flag = "  many" if r.passes > MANY_PASSES else ""
            lines.append(f"{r.stage:<28} {r.domain:<14} {r.share:>6.1%} {r.drawn:>14,} {r.available:>14,} "
                         f"{r.passes:>7.1f}{flag}")
        return "\n".join(lines)

    def notes(self) -> list[str]:
        """A line for every domain the whole run reads more than MANY_PASSES times."""
        notes = []
        for domain, (drawn, held) in sorted(self.totals.items()):
            passes = drawn / held if held else float("inf")
            if passes > MANY_PASSES:
                notes.append(f"domain {domain!r} is read {passes:.1f} times over ({drawn:,} tokens drawn from "
                             f"{held:,}); past ~{MANY_PASSES:.0f} passes repeated tokens are worth little: add "
                             f"{domain} data or lower its weight")
        for domain, held in sorted(self.unread.items()):
            notes.append(f"{held:,} tokens of domain {domain!r} are read by no stage (not in a mixture, or not in "
                         "its buckets)")
        return notes


def data_budget(recipe: Recipe, shards: list) -> Budget:
    """The budget of a recipe over its training shards (as the sampler gets them)."""
    rows: list[BudgetRow] = []
    read: dict[str, set[int]] = {}  # per domain, the shards some stage reads
    for stage, parts in zip(recipe.stages, recipe.stage_steps()):
        tokens = sum(steps * seqs * length for (steps, seqs), length in zip(parts, stage.lengths()))
        held = {}
        for domain, weight in stage.mixture.items():
            if weight > 0:
                ids = {i for i, s in enumerate(shards)
                       if s.domain == domain and (not stage.buckets or s.bucket in stage.buckets)}
                read.setdefault(domain, set()).update(ids)
                held[domain] = sum(len(shards[i].tokens) for i in ids)
        total_weight = sum(stage.mixture[d] for d in held if held[d]) or 1.0
        for domain, available in sorted(held.items()):
            share = stage.mixture[domain] / total_weight if available else 0.0
            rows.append(BudgetRow(stage.name, domain, share, round(tokens * share), available))
    totals = {d: (sum(r.drawn for r in rows if r.domain == d), sum(len(shards[i].tokens) for i in ids))
              for d, ids in read.items()}
    used = set().union(*read.values()) if read else set()
    unread: dict[str, int] = {}
    for i, shard in enumerate(shards):
        if i not in used and len(shard.tokens):
            unread[shard.domain] = unread.get(shard.domain, 0) + len(shard.tokens)
    return Budget(rows, totals, unread)


def print_budget(recipe: Recipe, shards: list | None = None, say=print, held_out: list | None = None) -> None:
    """The budget as lines for `say`, over `shards`, or (a dry run) over the manifest's training shards when they
    exist; with `held_out` (the validation shards) a note names the domains that have none."""
    from axk1.train.data import load_shards, split_validation

    if shards is None:
        if not Path(recipe.data.manifest).exists():
            say(f"data budget: {recipe.data.manifest} is not there yet (make the token shards, then dry-run again to "
                "see how often each domain is read)")
            return
        shards, held_out = split_validation(load_shards(recipe.data.manifest)[1], recipe.validation.held_out,
                                            recipe.data.seed)
    budget = data_budget(recipe, shards)
    say("data budget (tokens each stage reads from each domain, and how many passes over what the shards hold):")
    say(budget.table())
    for note in budget.notes():
        say(f"note: {note}")
    if recipe.validation.held_out > 0 and held_out is not None:
        # a shard of one document has no block to hold out (its document would leave nothing to train on)
        missing = sorted({s.domain for s in shards} - {s.domain for s in held_out})
        if missing:
            say(f"note: no held-out documents in {', '.join(repr(d) for d in missing)}: every shard there holds one "
                "document, which trains in full, so val_loss has no figure for it (split such a domain's documents "
                "over fewer shards, or accept it)")
