"""What a PDF's bytes say where PDFium cannot: a page tree with no page (`has_no_pages`, PDFium refuses such a
file without a reason, as it does a damaged one), and Form XObjects that draw themselves without end
(`multiplying_forms_of`), found before PDFium draws them.

A Form XObject is a content stream a page draws by name (`/X1 Do`), and it may draw other forms. PDFium stops a
form drawn inside itself only at a nesting depth, so a form that draws itself twice (`/X1 Do /X1 Do`) makes 2 to
the power of that depth copies: PDFium allocated until the worker's memory cap stopped it, and the file failed as
`pdf_memory_limit` after seconds, at any cap (512 MB and 4 GB alike). A form drawing itself once, or two forms
each other once, PDFium cuts short itself: those are left alone.

Forms are streams, and a stream is never inside an object stream, so each form's dictionary is in the file's
bytes: its `/XObject` resources are read there (an indirect `/Resources` dictionary is not followed), its content
inflated (Flate or unfiltered, at most MAX_FORM_BYTES). A cycle of forms whose members draw members of the cycle
more than once in all, counted around the cycle, grows without end.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

MAX_FORM_BYTES = 1 << 20  # inflated content read per form; a form's drawing operators come first in practice
MAX_SCANNED_FILE = 256 << 20  # a larger file is not read whole: its forms and object streams are not searched
_MAX_OBJSTM_SCAN = 64 << 20  # inflated bytes of object streams searched for a page tree, at most (memory is capped)
_PAGES_RE = re.compile(rb"/Type\s*/Pages\b")
_PAGE_RE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
_OBJSTM_RE = re.compile(rb"/Type\s*/ObjStm\b")
_FORM_RE = re.compile(rb"/Subtype\s*/Form\b")
_OBJ_RE = re.compile(rb"(\d+)\s+\d+\s+obj\b")
_XOBJECTS_RE = re.compile(rb"/XObject\s*<<(.*?)>>", re.S)
_NAMED_REF_RE = re.compile(rb"/([^\s/<>\[\]()]+)\s+(\d+)\s+\d+\s+R")
_DO_RE = re.compile(rb"/([^\s/<>\[\]()]+)\s*Do\b")
_STREAM_RE = re.compile(rb"stream\r?\n")


def _forms(data: bytes) -> dict[int, tuple[dict[bytes, int], bytes]]:
    """Each form's object number: its XObject names (name -> object number) and its stream's head (inflated)."""
    forms = {}
    for m in _FORM_RE.finditer(data):
        objs = list(_OBJ_RE.finditer(data, max(0, m.start() - 4096), m.start()))
        opened = _STREAM_RE.search(data, m.end())
        if not objs or opened is None:
            continue
        start = objs[-1]
        head = data[start.end():opened.start()]  # the form's dictionary
        names = {}
        for x in _XOBJECTS_RE.finditer(head):
            names.update({name: int(num) for name, num in _NAMED_REF_RE.findall(x.group(1))})
        end = data.find(b"endstream", opened.end())
        raw = data[opened.end():end if end >= 0 else len(data)]
        if b"/FlateDecode" in head:
            try:
                content = zlib.decompressobj().decompress(raw, MAX_FORM_BYTES)
            except zlib.error:
                continue
        elif b"/Filter" in head:
            continue
        else:
            content = raw[:MAX_FORM_BYTES]
        forms[int(start.group(1))] = (names, content)
    return forms


def self_multiplying_forms(data: bytes) -> list[int]:
    """Object numbers of the forms in a cycle that draws itself more than once around (empty when none)."""
    if not _FORM_RE.search(data):
        return []
    forms = _forms(data)
    draws: dict[int, list[int]] = {}  # form -> the forms it draws, once per Do
    for num, (names, content) in forms.items():
        draws[num] = [names[n] for n in _DO_RE.findall(content) if names.get(n) in forms]
    found: set[int] = set()
    for num in draws:
        cycle = _cycle_through(num, draws)
        if cycle and sum(1 for f in cycle for g in draws[f] if g in cycle) > len(cycle):
            found |= cycle
    return sorted(found)


def _cycle_through(start: int, draws: dict[int, list[int]]) -> set[int]:
    """The forms that both are drawn from `start` and lead back to it (its strongly connected component)."""
    def reach(frm: int, edges: dict[int, list[int]]) -> set[int]:
        seen, todo = set(), [frm]
        while todo:
            for g in edges.get(todo.pop(), ()):
                if g not in seen:
                    seen.add(g)
                    todo.append(g)
        return seen

    back: dict[int, list[int]] = {}
    for f, gs in draws.items():
        for g in gs:
            back.setdefault(g, []).append(f)
    forward = reach(start, draws)
    return forward & reach(start, back) if start in forward else set()


def multiplying_forms_of(source: str | Path | bytes) -> list[int]:
    """`self_multiplying_forms` of a PDF file or its bytes; a file over MAX_SCANNED_FILE is not read (empty)."""
    if not isinstance(source, bytes):
        if Path(source).stat().st_size > MAX_SCANNED_FILE:
            return []
        source = Path(source).read_bytes()
    return self_multiplying_forms(source)


def has_no_pages(source: str | Path | bytes) -> bool:
    """Whether a PDF that PDFium would not open has a page tree but not one page object: PDFium refuses a document
    of zero pages without a reason, as it does a damaged one. Read only on that failure, in pieces (the worker's
    memory is capped). PDF 1.5 writers (qpdf, pikepdf, most since) keep the catalog and page tree inside a
    compressed object stream, where a search of the file's bytes saw no page tree, and such a file was reported
    `corrupt`: object streams are inflated and searched too, up to _MAX_OBJSTM_SCAN bytes in all."""
    pages = objstm = False
    for text in _pieces(source):
        if _PAGE_RE.search(text):
            return False
        pages = pages or bool(_PAGES_RE.search(text))
        objstm = objstm or bool(_OBJSTM_RE.search(text))
    if not objstm:
        return pages
    if isinstance(source, bytes):
        data = source
    elif Path(source).stat().st_size <= MAX_SCANNED_FILE:
        data = Path(source).read_bytes()
    else:
        return pages
    for inflated in _object_streams(data):
        if _PAGE_RE.search(inflated):
            return False
        pages = pages or bool(_PAGES_RE.search(inflated))
    return pages


def _pieces(source: str | Path | bytes):
    """The PDF's bytes in 4 MiB pieces, each starting with the last 64 bytes of the one before (a name cut between
    two pieces is whole in the next)."""
    if isinstance(source, bytes):
        yield source
        return
    tail = b""
    with open(source, "rb") as f:
        while chunk := f.read(1 << 22):
            text = tail + chunk
            yield text
            tail = text[-64:]


def _object_streams(data: bytes):
    """The contents of the PDF's object streams, unfiltered or Flate-compressed (other filters are skipped),
    inflated to at most _MAX_OBJSTM_SCAN bytes in all: a stream that inflates without end is cut there."""
    import zlib

    left = _MAX_OBJSTM_SCAN
    for m in _OBJSTM_RE.finditer(data):
        opened = _STREAM_RE.search(data, m.end())
        if opened is None:
            continue
        head = data[data.rfind(b"obj", 0, m.start()) + 3:opened.start()]  # the stream's dictionary
        end = data.find(b"endstream", opened.end())
        raw = data[opened.end():end if end >= 0 else len(data)]
        if b"/FlateDecode" in head:
            try:
                out = zlib.decompressobj().decompress(raw, left)
            except zlib.error:
                continue
        elif b"/Filter" not in head:
            out = raw[:left]
        else:
            continue
        yield out
        left -= len(out)
        if left <= 0:
            return
