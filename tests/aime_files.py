"""Where the tests find the public AIME 2025 files (aime25_en.jsonl, aime25_ko.jsonl), which the repository does not
ship (docs/evaluation.md, "AIME 2025"): the folder AXK1_AIME_DIR names, else ../shared/data/benchmarks beside the
clone. A test that needs them is marked `needs_aime` and skips, saying so, where neither holds them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

BESIDE_THE_CLONE = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"
AIME_DIR = Path(os.environ.get("AXK1_AIME_DIR") or BESIDE_THE_CLONE)
needs_aime = pytest.mark.skipif(
    not all((AIME_DIR / f"aime25_{lang}.jsonl").is_file() for lang in ("en", "ko")),
    reason=f"needs the AIME 2025 files (aime25_en.jsonl, aime25_ko.jsonl), not shipped with the repository: set "
           f"AXK1_AIME_DIR to their folder (looked in {AIME_DIR})")
