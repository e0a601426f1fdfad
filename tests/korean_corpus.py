"""Real Korean text from konlpy's corpus (bills of the National Assembly, the constitution), shared by the Korean data
tests (filters, perplexity, decontamination, synth)."""

import re
from pathlib import Path

import konlpy

from axk1.text.korean import normalize_text

CORPUS = Path(konlpy.__file__).parent / "data" / "corpus"


def bill(number: int) -> str:
    """The bill `number` of konlpy's kobill corpus, normalized."""
    return normalize_text((CORPUS / "kobill" / f"{number}.txt").read_text(encoding="utf-8"))


def constitution_chapters() -> dict[str, str]:
    """The constitution cut at its chapter headings ("제4장 정부"), keyed by heading."""
    text = normalize_text((CORPUS / "kolaw" / "constitution.txt").read_text(encoding="utf-8"))
    parts = [p.strip() for p in re.split(r"\n(?=[ \t]*제\d+장 )", text) if p.strip()]
    return {p.split("\n")[0].strip(): p for p in parts}


def bills() -> dict[int, str]:
    """Every bill of the kobill corpus by number."""
    return {int(p.stem): bill(int(p.stem)) for p in sorted((CORPUS / "kobill").glob("*.txt"))}
