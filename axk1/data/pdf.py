"""Korean-aware PDF text extraction (pypdfium2): the document-level flow.

Per page: lines with measured geometry (pdf_lines), bad spans removed with a counted reason (pdf_garbage), a
page with nothing usable left sent to OCR (tesseract when installed; each page within its own and the file's
time, pdf_ocr) or rejected with its reason. Per
document: every line gets one role, header, footer or body (pdf_layout: position, gap, type size and
repetition across pages), body lines are put in reading order (columns; across pages, a page's footnotes after
its body text: pdf_pages) and wrapped lines re-joined from their measured widths (pdf_reflow). Text is NFC
(never NFKC).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from axk1.compressed_file import STREAM_ERRORS, open_bytes
from axk1.data.pdf_footnotes import space_footnote_numbers
from axk1.data.pdf_bytes import has_no_pages, multiplying_forms_of
from axk1.data.pdf_garbage import MIN_HANGUL_SPACE_RATIO, byte_mapped_blocks, clean_span, page_garbage_reason
from axk1.data.pdf_layout import assign_roles, body_blocks, split_margin_notes
from axk1.data.pdf_lines import Line, PageLines, read_lines
from axk1.data.pdf_ocr import OcrBudget, OcrFn, ocr_hook
from axk1.data.pdf_ocr_reflow import reflow_ocr
from axk1.data.pdf_pages import ReadingOrder
from axk1.data.pdf_reflow import reflow
from axk1.data.pdf_vertical import merge_vertical
from axk1.text.korean import LineJoiner, normalize_text

MAX_COMPRESSED_PDF = 1 << 30  # a compressed PDF is decompressed in memory: at most this many bytes
CORRUPT_PAGE = "corrupt_page"  # a page PDFium cannot load: rejected; the file is corrupt when no other page is kept


class PdfError(Exception):
    """The document cannot be extracted; `reason` is a short machine-readable cause."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class PdfConfig:
    join: str = "rules"             # "rules", or "rules+kiwi" (Kiwi settles what the rules leave open; ~5 s to load)
    detect_columns: bool = True
    remove_headers: bool = True
    ocr: str = "auto"               # "auto" (tesseract if installed), "tesseract", "none"
    ocr_lang: str = "kor+eng"
    min_hangul_space_ratio: float = MIN_HANGUL_SPACE_RATIO  # under it a page's Korean lost its spaces (pdf_garbage)
    max_page_chars: int = 200_000
    # the containment of each file's extraction (axk1/data/pdf_worker.py): address space and wall time
    max_memory_mb: int = 2048
    timeout_s: float = 300.0
    # OCR's share of it, page by page (pdf_ocr): pages read are kept when the rest cannot be
    ocr_page_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if not (isinstance(self.max_memory_mb, int) and self.max_memory_mb >= 256):
            raise ValueError(f"[pdf] max_memory_mb = {self.max_memory_mb!r}: give a whole number of MB, at least 256 "
                             "(the worker's Python and PDFium need about 100)")
        if not (isinstance(self.timeout_s, (int, float)) and 0 < self.timeout_s < float("inf")):
            raise ValueError(f"[pdf] timeout_s = {self.timeout_s!r}: give a positive number of seconds per file")
        if not (isinstance(self.ocr_page_timeout_s, (int, float)) and 0 < self.ocr_page_timeout_s < float("inf")):
            raise ValueError(f"[pdf] ocr_page_timeout_s = {self.ocr_page_timeout_s!r}: give a positive number of "
                             "seconds per OCR'd page")


@dataclass
class PdfResult:
    text: str
    pages: int
    page_methods: list[str] = field(default_factory=list)   # per page: pdfium | pdfium-columns | ocr | rejected
    rejected_pages: list[dict] = field(default_factory=list)  # {"page": i (1-based), "reason": ...}
    # what was left out of the kept pages, by reason: header/footer/margin/hidden lines, and spans (pdf_garbage)
    dropped: dict = field(default_factory=dict)
    # pages sent to OCR: read, failed (timed out or an error), not tried (the document's time spent), seconds
    ocr: dict = field(default_factory=dict)

    def metadata(self) -> dict:
        return {"pages": self.pages, "page_methods": self.page_methods, "rejected_pages": self.rejected_pages,
                "dropped": self.dropped, "ocr": self.ocr}


def _decompressed(path: Path) -> bytes:
    """A `.pdf.gz` / `.bz2` / `.xz` file's PDF, in memory (pdfium reads bytes), at most MAX_COMPRESSED_PDF
    bytes (compressed_file.open_bytes, by the suffix)."""
    try:
        with open_bytes(path) as f:
            data = f.read(MAX_COMPRESSED_PDF + 1)
    except STREAM_ERRORS as e:
        raise PdfError("corrupt", f"its {path.suffix} compression cannot be read: {e}") from None
    if len(data) > MAX_COMPRESSED_PDF:
        raise PdfError("too_large", f"over {MAX_COMPRESSED_PDF >> 20} MiB decompressed: decompress it to a .pdf")
    return data


def _open(source: str | Path | bytes):
    import pypdfium2 as pdfium

    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise PdfError("missing", str(path))
        if path.stat().st_size == 0:
            raise PdfError("empty_file", str(path))
        if path.suffix.lower() in (".gz", ".bz2", ".xz"):
            source = _decompressed(path)
    if not source:
        raise PdfError("empty_file")
    forms = multiplying_forms_of(source)  # before PDFium draws them: it failed as memory_limit, at any cap
    if forms:
        raise PdfError("recursive_form", f"Form XObject(s) {', '.join(map(str, forms[:5]))} draw themselves more "
                       "than once around a cycle: drawn, their copies multiply without end until memory runs out. "
                       "The file cannot be read as it is; remove or repair those forms")
    _mark_last_error()
    try:
        return pdfium.PdfDocument(source if isinstance(source, bytes) else str(source))
    except pdfium.PdfiumError as e:
        code = pdfium.raw.FPDF_GetLastError()
        if code == pdfium.raw.FPDF_ERR_PASSWORD:
            raise PdfError("encrypted", "the PDF needs a password") from None
        if code in (pdfium.raw.FPDF_ERR_SUCCESS, pdfium.raw.FPDF_ERR_FILE):  # failed without saying why
            if has_no_pages(source):
                raise PdfError("no_pages", "the PDF has no pages (its page tree holds none)") from None
            raise PdfError("corrupt", "PDFium could not load it and gave no reason (no page tree?)") from None
        raise PdfError("corrupt", str(e)) from None


def _mark_last_error() -> None:
    """Sets PDFium's last error to "file access" (a load of no file) before a document is opened. PDFium keeps its
    last error across documents and sets none on some failures (an empty page tree): such a file was reported
    with the previous file's reason, "needs a password" after an encrypted one, in a worker reused from file to
    file. The file is open (or its bytes read) by then, so "file access" after the load means no reason given."""
    import pypdfium2.raw as raw

    handle = raw.FPDF_LoadDocument(b"", None)
    if handle:  # no file has the empty name; closed all the same should one open
        raw.FPDF_CloseDocument(handle)


@dataclass
class _Page:
    method: str                      # pdfium | ocr | rejected (columns are decided later)
    lines: PageLines | None = None   # the text layer's lines (pdfium)
    text: str = ""                   # OCR output
    reason: str | None = None        # why rejected
    dropped: Counter = field(default_factory=Counter)


def extract_pdf(source: str | Path | bytes, cfg: PdfConfig | None = None, ocr: OcrFn | None = None,
                deadline: float | None = None) -> PdfResult:
    """Extracts the text of a PDF. Raises PdfError (missing, encrypted, corrupt, empty_file, no_pages, no_text)
    when nothing usable comes out; pages that cannot be used are listed in rejected_pages with the reason.
    `deadline` (time.time()) is when the caller gives up on the file; by default timeout_s from now. OCR stops
    short of it (pdf_ocr), so the pages read are returned rather than lost with the file."""
    cfg = cfg or PdfConfig()
    ocr = ocr_hook(cfg.ocr, cfg.ocr_lang, ocr)
    left = (deadline - time.time()) if deadline is not None else cfg.timeout_s
    # the reserve: laying out and joining the kept pages, and the reply, after the last OCR'd page
    budget = OcrBudget(cfg.ocr_page_timeout_s, time.monotonic() + left - min(15.0, 0.1 * cfg.timeout_s))
    pdf = _open(source)
    try:
        pdf.init_forms()  # before any page loads: flattening then draws each field's value (_flattened_page)
        layers = [_load_layer(pdf, i) for i in range(len(pdf))]
        if not layers:
            raise PdfError("no_pages")
        byte_mapped = byte_mapped_blocks([ln.text for p in layers if isinstance(p, PageLines) for ln in p.lines])
        pages = [_clean_page(layer, byte_mapped, pdf, i, cfg, ocr, budget) if isinstance(layer, PageLines)
                 else _Page("rejected", reason=f"{CORRUPT_PAGE} ({layer})") for i, layer in enumerate(layers)]
    finally:
        pdf.close()
    return _assemble(pages, cfg, budget)


def _load_layer(pdf, index: int) -> PageLines | str:
    """Page `index`'s text layer, or why PDFium cannot load the page: a damaged file (a page tree that contains
    itself, an object stream that extends itself) fails there, not at opening, and was reported as an error of the
    extractor (`pdf_extractor_error`) rather than of the input."""
    import pypdfium2 as pdfium

    try:
        page = _flattened_page(pdf, index)
    except pdfium.PdfiumError as e:
        return f"PDFium: {e}"
    return _text_layer(page)


def _flattened_page(pdf, index: int):
    """Page `index` with its form fields and annotations drawn into its content, as a viewer shows them: a filled
    form field's value is no text of the page until then, and was lost (pdftotext prints it). The document's form
    must be set up (init_forms) before its pages load: without it, only a field that carries its own appearance is
    drawn, and the values LibreOffice and Evince leave to the viewer to draw were lost ("Alice", "Bob"). PDFium
    re-reads the content only when the page is loaded again. Only the document in memory changes."""
    import pypdfium2.raw as raw

    page = pdf[index]
    if raw.FPDFPage_Flatten(page.raw, raw.FLAT_NORMALDISPLAY) == raw.FLATTEN_SUCCESS:
        page.close()
        page = pdf[index]
    return page


def _text_layer(page) -> PageLines:
    # A page shown turned (/Rotate, as scanners leave it) has its text read as it was laid out: PDFium otherwise
    # gives its lines in turned coordinates and they came out scrambled. The turn is put back for OCR, which must
    # see the page as shown. Only the document in memory changes.
    rotation = page.get_rotation()
    try:
        if rotation:
            page.set_rotation(0)
        textpage = page.get_textpage()
        try:
            lines = read_lines(page, textpage)
        finally:
            textpage.close()
    finally:
        if rotation:
            page.set_rotation(rotation)
        page.close()
    for ln in lines.lines:
        ln.text = normalize_text(ln.text)
    lines.lines = merge_vertical(lines.lines)
    for ln in lines.lines:
        if ln.cells:  # its text rebuilt from PDFium's characters, with the word spaces
            ln.text = normalize_text(ln.text)
    return lines


def _clean_page(lines: PageLines, byte_mapped: frozenset[int], pdf, index: int, cfg: PdfConfig,
                ocr: OcrFn | None, budget: OcrBudget) -> _Page:
    """Bad spans out (counted); a page with nothing usable left goes to OCR or is rejected with the reason."""
    dropped: Counter = Counter()
    kept: list[Line] = []
    for ln in lines.lines:
        ln.text = clean_span(ln.text, dropped, byte_mapped)
        if ln.text:
            kept.append(ln)
    lines.lines = kept
    body = " ".join(ln.text for ln in kept)
    if len(body) > cfg.max_page_chars:
        return _Page("rejected", reason=f"page_too_long ({len(body)} chars)")
    reason = page_garbage_reason(body, cfg.min_hangul_space_ratio)
    if reason is None:
        return _Page("pdfium", lines, dropped=dropped)
    if reason == "no_text_layer" and dropped:  # there was text, all of it unusable: say why
        reason = dropped.most_common(1)[0][0]
    if ocr is None:
        return _Page("rejected", reason=f"{reason}; no OCR available")
    page = pdf[index]
    try:
        text, why_not = budget.read(ocr, page, index + 1)
    finally:
        page.close()
    if text is None:
        return _Page("rejected", reason=f"{reason}; {why_not}")
    text = normalize_text(text)
    again = page_garbage_reason(text, cfg.min_hangul_space_ratio)
    if again is not None:
        return _Page("rejected", reason=f"{reason}; OCR output also failed: {again}")
    return _Page("ocr", text=text.strip())


def _assemble(pages: list[_Page], cfg: PdfConfig, budget: OcrBudget) -> PdfResult:
    kept = [p for p in pages if p.method != "rejected"]
    if not kept:
        broken = [i + 1 for i, p in enumerate(pages) if p.reason.startswith(CORRUPT_PAGE)]
        if broken:  # a damaged input, not one without text
            raise PdfError("corrupt", f"PDFium cannot load page(s) {broken[:5]} of {len(pages)} (a damaged page tree "
                           "or object stream), and no other page has text: repair or re-save the PDF")
        reasons = Counter(p.reason.split(";")[0] for p in pages)
        ocr = budget.summary()
        tried = f"; OCR: {ocr}" if budget.pages or budget.failed or budget.not_tried else ""
        raise PdfError("no_text", f"all {len(pages)} pages rejected ({dict(reasons)}){tried}")
    if cfg.remove_headers:
        assign_roles([p.lines for p in kept if p.lines is not None])
    for p in kept:
        if p.lines is not None:
            split_margin_notes(p.lines)
    space_footnote_numbers([p.lines for p in kept if p.lines is not None])
    joiner = LineJoiner(use_kiwi=cfg.join == "rules+kiwi")
    dropped: Counter = Counter()
    chunks: list[str] = []
    order = ReadingOrder()  # the text layer's pages since the last OCR'd one
    for p in kept:
        dropped.update(p.dropped)
        if p.lines is None:  # an OCR page: its text stands alone
            order.flush()
            if order.lines:
                chunks.append(reflow(order.lines, order.boxes, order.blocks, joiner, order.breaks))
                order = ReadingOrder()
            chunks.append(reflow_ocr(p.text, joiner))  # its wrapped lines joined as the text layer's are
            continue
        dropped["hidden_lines"] += p.lines.hidden
        dropped["footnote_marks"] += p.lines.footnote_marks
        dropped["offpage_chars"] += p.lines.offpage_chars
        dropped.update(f"{ln.role}_lines" for ln in p.lines.lines if ln.role != "body")
        blocks, columns = body_blocks(p.lines, cfg.detect_columns)
        p.method = "pdfium-columns" if columns > 1 else "pdfium"
        order.add_page(blocks)  # its footnotes after its body text (pdf_pages)
    order.flush()
    if order.lines:
        chunks.append(reflow(order.lines, order.boxes, order.blocks, joiner, order.breaks))
    rejected = [{"page": i + 1, "reason": p.reason} for i, p in enumerate(pages) if p.method == "rejected"]
    return PdfResult(text="\n".join(c for c in chunks if c), pages=len(pages), page_methods=[p.method for p in pages],
                     rejected_pages=rejected, dropped={k: v for k, v in sorted(dropped.items()) if v},
                     ocr=budget.summary())
