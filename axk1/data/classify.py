"""Domain labels in A.X K1's categories, from rules plus a small trainable classifier.

The classifier is multinomial naive Bayes over hashed character n-grams (numpy only), saved as JSON (no
pickle). Rules settle what they are sure of (code files, a source's domain hint, strong markers); the
classifier, when given, decides the rest; otherwise the rules' best guess stands. Documents are labelled,
never deleted: the mixture is chosen later, per stage.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path

import numpy as np
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from axk1.compressed_file import read_lines
from axk1.json_text import json_lines
from axk1.text.korean import normalize_text

DOMAINS = ("web", "code", "encyclopedia", "qa", "books", "academic", "math", "stem", "reasoning")

# A number with a unit. It starts only where a digit run starts and takes its digits whole (possessive): the
# backtracking form, \d+(\.\d+)?, tried every start and length in a run of digits, 8 s for 5,000 of them. Whether it
# matches is unchanged: a digit run can only be followed by the unit (or its decimals) where the run ends.
_UNIT = r"(?<!\d)\d++(?:\.\d++)?\s?(?:kg|m|s|mol|J|W|%)"

_RULES: dict[str, list[re.Pattern]] = {
    "math": [re.compile(p) for p in (r"\\frac|\\sqrt|\\int|\\sum|\$[^$\n]{1,80}\$", r"\d\s*[+\-×÷*/^]\s*\d+\s*=",
                                     r"방정식|정리|증명|미분|적분|함수|equation|theorem|proof|integer")],
    "reasoning": [re.compile(p) for p in (r"<think>|단계\s*\d|Step \d", r"따라서|그러므로|therefore|hence",
                                          r"풀이|검산|check|verify")],
    "qa": [re.compile(p, re.M) for p in (r"^(Q|A|질문|답변|문|답)\s*[:.]", r"\?\s*$", r"답변|answer")],
    "academic": [re.compile(p, re.I | re.M) for p in (r"^(abstract|초록|요약)\b", r"참고\s*문헌|references|et al\.",
                                                      r"\[\d+\]|\(\d{4}\)")],
    "encyclopedia": [re.compile(p, re.M) for p in (r"^\S+(은|는|이란)\s.{0,60}이다\.", r"분류:|개요|역사|같이 보기",
                                                   r"\d{4}년")],
    "books": [re.compile(p, re.M) for p in (r"^제\s*\d+\s*(장|절|편|조)|^chapter\s+\d+", r"“|”|\"",
                                            r"그는|그녀는|했다\.")],
    "stem": [re.compile(p, re.I) for p in (r"화학|물리|생물|세포|에너지|분자|algorithm|physics|chemistry",
                                           r"실험|측정|데이터|experiment|measure", _UNIT)],
}


def rule_scores(text: str) -> dict[str, float]:
    """Share of each domain's marker patterns found in the first 5,000 characters."""
    head = normalize_text(text)[:5000]  # the markers are NFC Hangul; NFD text (macOS) must match them too
    return {d: sum(bool(p.search(head)) for p in pats) / len(pats) for d, pats in _RULES.items()}


class DomainClassifier:
    """Naive Bayes over hashed character 1-3-grams."""

    def __init__(self, n_features: int = 1 << 14, log_prior=None, log_prob=None, labels=DOMAINS):
        self.n_features = n_features
        self.labels = tuple(labels)
        self.log_prior = log_prior
        self.log_prob = log_prob

    def features(self, text: str) -> np.ndarray:
        s = " ".join(normalize_text(text)[:4000].lower().split())  # NFD Hangul gives the NFC n-grams
        counts = np.zeros(self.n_features, dtype=np.float32)
        for n in (1, 2, 3):
            idx = [zlib.crc32(s[i:i + n].encode()) % self.n_features for i in range(len(s) - n + 1)]
            np.add.at(counts, idx, 1.0)
        return counts

    def fit(self, texts: list[str], labels: list[str], alpha: float = 0.1) -> "DomainClassifier":
        unknown = set(labels) - set(self.labels)
        if unknown:
            raise ValueError(f"unknown domain labels {sorted(unknown)}; use {', '.join(self.labels)}")
        X = np.stack([self.features(t) for t in texts])
        y = np.array([self.labels.index(lab) for lab in labels])
        counts = np.full((len(self.labels), self.n_features), alpha, dtype=np.float64)
        prior = np.full(len(self.labels), 1e-3)
        for k in range(len(self.labels)):
            rows = X[y == k]
            if len(rows):
                counts[k] += rows.sum(0)
                prior[k] += len(rows)
        self.log_prob = np.log(counts / counts.sum(1, keepdims=True)).astype(np.float32)
        self.log_prior = np.log(prior / prior.sum()).astype(np.float32)
        return self

    def predict_proba(self, text: str) -> dict[str, float]:
        if self.log_prob is None:
            raise ValueError("the domain classifier is not trained: call fit() or load() first")
        logits = self.log_prob @ self.features(text) + self.log_prior
        p = np.exp(logits - logits.max())
        p /= p.sum()
        return {lab: float(v) for lab, v in zip(self.labels, p)}

    def save(self, path: str | Path) -> None:
        """An .npz of plain arrays (loaded with allow_pickle=False, so safe to share)."""
        with open(path, "wb") as f:
            np.savez_compressed(f, log_prior=self.log_prior, log_prob=self.log_prob,
                                labels=np.array(self.labels, dtype=str))

    @classmethod
    def load(cls, path: str | Path) -> "DomainClassifier":
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"domain classifier {path} not found; train one with `axk1 data classifier`")
        try:
            with np.load(path, allow_pickle=False) as d:
                return cls(int(d["log_prob"].shape[1]), d["log_prior"], d["log_prob"], [str(x) for x in d["labels"]])
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path} is not a domain classifier ({type(e).__name__}: {e}): give the .npz "
                             "`axk1 data classifier` writes") from None


def _labelled_lines(path: str | Path):
    """(line number, value) of a JSONL file's lines (compressed when its name ends in .gz, .zst, .bz2 or .xz), read
    as bytes: a line that is not UTF-8 or not JSON, or a compressed stream that is damaged or cut short, is a
    ValueError naming the file (and line), not the codec's bare message (compressed_file.read_lines)."""
    lines = read_lines(Path(path), "compress it again, or give the plain .jsonl")
    yield from json_lines(lines, path, "fix or remove that line")


def train_domain_classifier(jsonl_paths: list[str | Path], out: str | Path, label_field: str = "domain") -> dict:
    """Trains on JSONL records with `text` and a domain label (`label_field`, top level or in `metadata`), one of
    DOMAINS, and saves the classifier to `out` ([annotate] domain_model reads it). Returns the records per label,
    and how many had no label (not trained on)."""
    texts, labels, unlabelled = [], [], 0
    for p in jsonl_paths:
        for n, r in _labelled_lines(p):
            if not isinstance(r, dict) or not isinstance(r.get("text"), str):
                raise ValueError(f"{p}:{n}: a record needs a \"text\" string (and a label); fix or remove it")
            meta = r.get("metadata") if isinstance(r.get("metadata"), dict) else {}
            lab = r.get(label_field) or meta.get(label_field)
            if not lab:
                unlabelled += 1
            elif lab not in DOMAINS:
                raise ValueError(f"{p}:{n}: {label_field} {lab!r} is not a domain; use one of {', '.join(DOMAINS)}")
            else:
                texts.append(r["text"])
                labels.append(lab)
    if not texts:
        raise ValueError(f"no records with a {label_field!r} label in {[str(p) for p in jsonl_paths]}")
    DomainClassifier().fit(texts, labels).save(out)
    return {"labels": {lab: labels.count(lab) for lab in sorted(set(labels))}, "unlabelled": unlabelled}


def label_domain(doc: Document, classifier: DomainClassifier | None = None) -> tuple[str, str, dict]:
    """(domain, how it was decided, scores)."""
    meta = doc.metadata
    if meta.get("source_type") == "code":
        return "code", "source", {}
    hint = meta.get("domain_hint")
    if hint in DOMAINS:
        return hint, "source", {}
    scores = rule_scores(doc.text)
    best = max(scores, key=scores.get)
    if scores[best] >= 2 / 3 and list(scores.values()).count(scores[best]) == 1:
        return best, "rules", scores
    if classifier is not None:
        proba = classifier.predict_proba(doc.text)
        return max(proba, key=proba.get), "classifier", {k: round(v, 4) for k, v in proba.items()}
    return (best if scores[best] >= 2 / 3 else "web"), "rules", scores


class DomainAnnotator(PipelineStep):
    name = "axk1 domain"
    type = "🏷 - ANNOTATE"

    def __init__(self, model_path: str | None = None):
        super().__init__()
        self.model_path = model_path
        self._clf = None

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if self.model_path and self._clf is None:
            self._clf = DomainClassifier.load(self.model_path)
        for doc in data:
            with self.track_time():
                domain, how, _ = label_domain(doc, self._clf)
            doc.metadata["domain"] = domain
            doc.metadata["domain_source"] = how
            self.stat_update(f"domain_{domain}")
            yield doc


def domain_step(annotate, exclusions) -> DomainAnnotator:
    """The annotate stage's entry (axk1/data/annotate_steps.py): `[annotate] domain_model`, rules when empty."""
    return DomainAnnotator(annotate.domain_model or None)
