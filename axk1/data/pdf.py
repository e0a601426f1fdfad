"""Korean-aware PDF text extraction (pypdfium2).

Per page: text rectangles give the geometry (margins, columns); the body is extracted in reading order;
a garbage gate sends bad pages to OCR (tesseract when installed) or rejects them with a reason. Per
document: running headers/footers and page numbers are removed by repetition across pages, and wrapped
lines are re-joined (no space inside Korean words broken across lines, de-hyphenation only Latin–Latin).
Text is NFC (never NFKC).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from axk1.data.pdf_layout import analyse_page, full_lines, page_rects
from axk1.text.korean import (LineJoiner, count_syllables, hangul_space_ratio, interior_word_counts,
                              join_wrapped_lines, normalize_text)

OcrFn = Callable[["object"], str]  # a pypdfium2 page -> text


class PdfError(Exception):
    """The document cannot be extracted; `reason` is a short machine-readable cause."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class PdfConfig:
    join: str = "rules+kiwi"        # "rules+kiwi" (Kiwi settles what the rules leave open) or "rules"
    detect_columns: bool = True
    remove_headers: bool = True
    margin_band: float = 0.08       # top/bottom share of the page height searched for running headers/footers
    repeat_share: float = 0.5       # a margin line on at least this share of pages (and >= 2) is a running header
    ocr: str = "auto"               # "auto" (tesseract if installed), "tesseract", "none"
    ocr_lang: str = "kor+eng"
    max_bad_char_ratio: float = 0.02
    min_hangul_space_ratio: float = 0.04
    max_page_chars: int = 200_000


@dataclass
class PdfResult:
    text: str
    pages: int
    page_methods: list[str] = field(default_factory=list)   # per page: pdfium | pdfium-columns | ocr | rejected
    rejected_pages: list[dict] = field(default_factory=list)  # {"page": i (1-based), "reason": ...}

    def metadata(self) -> dict:
        return {"pages": self.pages, "page_methods": self.page_methods, "rejected_pages": self.rejected_pages}


_PAGE_NUMBER_RE = re.compile(r"^[-–—\s\[(]*(?:page|p\.|페이지)?\s*\d{1,4}\s*(?:(?:/|of)\s*\d{1,4})?\s*(?:쪽|면)?[-–—\s\])]*$",
                             re.IGNORECASE)
_CONTROL_RE = re.compile("[\x00-\x01\x03-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd\ue000-\uf8ff]")
_CID_RE = re.compile(r"\(cid:\d+\)")


def page_garbage_reason(text: str, cfg: PdfConfig) -> str | None:
    """Why a page's text layer is unusable, or None. Signals: no text, control/private-use/U+FFFD characters,
    `(cid:N)` codes, Latin-1 mojibake, Korean with (almost) no spaces between words."""
    body = text.strip()
    if not body:
        return "no_text_layer"
    if len(_CID_RE.findall(body)) >= 3:
        return "cid_codes"
    bad = len(_CONTROL_RE.findall(body))
    if bad / len(body) > cfg.max_bad_char_ratio:
        return "bad_characters"
    letters = [ch for ch in body if ch.isalpha()]
    if len(letters) >= 50 and sum("\u00c0" <= ch <= "\u00ff" for ch in letters) / len(letters) > 0.3:
        return "mojibake"
    syllables = count_syllables(body)
    if syllables >= 100 and hangul_space_ratio(body) < cfg.min_hangul_space_ratio:
        return "glued_words"
    return None


def tesseract_ocr(lang: str = "kor+eng") -> OcrFn | None:
    """An OCR hook using the tesseract binary (Debian: tesseract-ocr tesseract-ocr-kor), or None if absent."""
    exe = shutil.which("tesseract")
    if exe is None:
        return None

    def ocr(page) -> str:
        image = page.render(scale=300 / 72).to_pil()
        with tempfile.TemporaryDirectory() as tmp:
            png = Path(tmp) / "page.png"
            image.save(png)
            done = subprocess.run([exe, str(png), "stdout", "-l", lang], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip()[-200:])
        return done.stdout

    return ocr


@dataclass
class _RawPage:
    top: list[str]
    blocks: list[list[str]]   # each block: lines of one column / band
    bottom: list[str]
    method: str
    reason: str | None = None


def _open(source: str | Path | bytes):
    import pypdfium2 as pdfium

    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise PdfError("missing", str(path))
        if path.stat().st_size == 0:
            raise PdfError("empty_file", str(path))
    elif not source:
        raise PdfError("empty_file")
    try:
        return pdfium.PdfDocument(source if isinstance(source, bytes) else str(source))
    except pdfium.PdfiumError as e:
        msg = str(e)
        if "password" in msg.lower():
            raise PdfError("encrypted", "the PDF needs a password") from None
        raise PdfError("corrupt", msg) from None


_SOFT_HYPHEN_LATIN = re.compile("([A-Za-z])\x02\n?([a-z])")


def _clean_page_text(text: str) -> str:
    """pdfium marks a hyphen at a line end with \x02 and may merge the two lines: Latin–Latin is a hyphenated
    word (joined), anything else keeps the hyphen and the line break."""
    text = normalize_text(text)
    text = _SOFT_HYPHEN_LATIN.sub(r"\1\2", text)
    return text.replace("\x02\n", "-\n").replace("\x02", "-\n")


def _bounded_lines(textpage, box) -> list[str]:
    return _clean_page_text(textpage.get_text_bounded(*box)).split("\n")


def extract_pdf(source: str | Path | bytes, cfg: PdfConfig | None = None, ocr: OcrFn | None = None) -> PdfResult:
    """Extracts the text of a PDF. Raises PdfError (encrypted, corrupt, empty_file, no_text) when nothing
    usable comes out; pages that fail the garbage gate and cannot be OCRed are listed in rejected_pages."""
    cfg = cfg or PdfConfig()
    if ocr is None and cfg.ocr in ("auto", "tesseract"):
        ocr = tesseract_ocr(cfg.ocr_lang)
        if ocr is None and cfg.ocr == "tesseract":
            raise FileNotFoundError("ocr = 'tesseract' but no tesseract binary: apt-get install tesseract-ocr "
                                    "tesseract-ocr-kor, or set ocr = 'auto' / 'none'")
    pdf = _open(source)
    try:
        raw_pages = [_extract_page(pdf[i], cfg, ocr) for i in range(len(pdf))]
    finally:
        pdf.close()
    if not raw_pages:
        raise PdfError("no_pages")
    return _assemble(raw_pages, cfg)


def _extract_page(page, cfg: PdfConfig, ocr: OcrFn | None) -> _RawPage:
    try:
        width, height = page.get_size()
        textpage = page.get_textpage()
        try:
            layout = analyse_page(page_rects(textpage), width, height, cfg.margin_band, cfg.detect_columns)
            top = _bounded_lines(textpage, layout.margin_top)
            bottom = _bounded_lines(textpage, layout.margin_bottom)
            blocks = [_bounded_lines(textpage, box) for box in layout.body_boxes]
        finally:
            textpage.close()
        body = "\n".join("\n".join(b) for b in blocks)
        if len(body) > cfg.max_page_chars:
            return _RawPage([], [], [], "rejected", f"page_too_long ({len(body)} chars)")
        reason = page_garbage_reason(body, cfg)
        if reason is None:
            return _RawPage(top, blocks, bottom, "pdfium-columns" if layout.columns > 1 else "pdfium")
        if ocr is None:
            return _RawPage([], [], [], "rejected", f"{reason}; no OCR available")
        text = normalize_text(ocr(page))
        again = page_garbage_reason(text, cfg)
        if again is not None:
            return _RawPage([], [], [], "rejected", f"{reason}; OCR output also failed: {again}")
        return _RawPage([], [text.split("\n")], [], "ocr")
    finally:
        page.close()


def _norm_key(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split()))


def _assemble(raw_pages: list[_RawPage], cfg: PdfConfig) -> PdfResult:
    kept = [p for p in raw_pages if p.method != "rejected"]
    if not kept:
        reasons = Counter(p.reason.split(";")[0] for p in raw_pages)
        raise PdfError("no_text", f"all {len(raw_pages)} pages rejected ({dict(reasons)})")
    # Running headers/footers: the same normalised margin line (digits as #) on >= repeat_share of the pages.
    counts: Counter = Counter()
    for p in kept:
        counts.update({_norm_key(x) for x in p.top + p.bottom if x.strip()})
    need = max(2, cfg.repeat_share * len(kept))
    repeated = {k for k, c in counts.items() if c >= need} if cfg.remove_headers else set()

    def keep_margin(line: str) -> bool:
        return bool(line.strip()) and not (cfg.remove_headers and (_norm_key(line) in repeated
                                                                   or _PAGE_NUMBER_RE.match(line)))

    all_lines = [ln for p in kept for b in p.blocks for ln in b]
    vocab = interior_word_counts(all_lines)
    joiner = LineJoiner(use_kiwi=cfg.join == "rules+kiwi")
    # One reflow over the whole document: a full last line of a column or page continues on the next one.
    lines: list[str] = []
    flags: list[bool] = []
    for p in kept:
        for block, is_body in [(p.top, False)] + [(b, True) for b in p.blocks] + [(p.bottom, False)]:
            block = [ln for ln in block if ln.strip() and (is_body or keep_margin(ln))]
            lines += block
            flags += full_lines(block) if is_body else [False] * len(block)
    text = join_wrapped_lines(lines, flags, joiner, vocab) if lines else ""
    rejected = [{"page": i + 1, "reason": p.reason} for i, p in enumerate(raw_pages) if p.method == "rejected"]
    return PdfResult(text=text, pages=len(raw_pages), page_methods=[p.method for p in raw_pages],
                     rejected_pages=rejected)
