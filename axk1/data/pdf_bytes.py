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
inflated (Flate or unfiltered, at most MAX_FORM_BYTES) a piece at a time and only its `Do`s counted, up to
_MAX_FORM_SCAN inflated bytes for all the forms (the forms past it are not read). A cycle of forms whose members
draw members of the cycle more than once in all, counted around the cycle, grows without end, if it is drawn at
all: a cycle that no other object refers to is left alone.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

MAX_FORM_BYTES = 1 << 20  # inflated content read per form; a form's drawing operators come first in practice
MAX_SCANNED_FILE = 256 << 20  # a larger file is not read whole: its forms and object streams are not searched
_MAX_OBJSTM_SCAN = 64 << 20  # inflated bytes of object streams searched for a page tree, at most (memory is capped)
_MAX_FORM_SCAN = 64 << 20  # inflated bytes of form content read for `Do`s, in all: the forms past it are not read
_PIECE = 1 << 16  # form content is inflated and searched this much at a time, and not kept
_PAGES_RE = re.compile(rb"/Type\s*/Pages\b")
_PAGE_RE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
_OBJSTM_RE = re.compile(rb"/Type\s*/ObjStm\b")
_FORM_RE = re.compile(rb"/Subtype\s*/Form\b")
_OBJ_RE = re.compile(rb"(\d+)\s+\d+\s+obj\b")
_XOBJECTS_RE = re.compile(rb"/XObject\s*<<(.*?)>>", re.S)
_NAMED_REF_RE = re.compile(rb"/([^\s/<>\[\]()]+)\s+(\d+)\s+\d+\s+R")
_DO_RE = re.compile(rb"/([^\s/<>\[\]()]+)\s*Do\b")
_REF_RE = re.compile(rb"(?<![\d.])(\d+)\s+\d+\s+R\b")
_STREAM_RE = re.compile(rb"stream\r?\n")


def _forms(data: bytes) -> dict[int, tuple[dict[bytes, int], tuple[int, int]]]:
    """Each form's object number: the forms it draws (object number -> how many `Do`s) and where its dictionary
    lies in `data`. Only the counts are kept, not the content (one inflated content per form, kept for them all,
    took 2.5 GB for 2,500 unused forms of 1 MiB each in a 5 MB file); at most _MAX_FORM_SCAN inflated bytes are read
    in all, and the forms past that are left unread (a cycle among them is not found here)."""
    forms = {}
    left = _MAX_FORM_SCAN
    view = memoryview(data)  # the streams are read in place, not copied
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
        if b"/Filter" in head and b"/FlateDecode" not in head:
            continue
        end = data.find(b"endstream", opened.end())
        raw = view[opened.end():end if end >= 0 else len(data)]
        limit = min(MAX_FORM_BYTES, left)
        pieces = _inflated(raw, limit) if b"/FlateDecode" in head else \
            (raw[i:min(i + _PIECE, limit)] for i in range(0, min(len(raw), limit), _PIECE))
        drawn, read = _count_draws(pieces, names)
        forms[int(start.group(1))] = (drawn, (start.end(), opened.start()))
        left -= read
        if left <= 0:
            break
    return forms


def _inflated(raw: memoryview, limit: int):
    """`raw` Flate-inflated in pieces of at most _PIECE bytes, `limit` bytes at most; a damaged stream ends where
    it can no longer be read."""
    inflate = zlib.decompressobj()
    todo = raw
    try:
        while limit > 0:
            piece = inflate.decompress(todo, min(_PIECE, limit))
            if not piece:
                return
            limit -= len(piece)
            todo = inflate.unconsumed_tail
            yield piece
    except zlib.error:
        return


def _count_draws(pieces, names: dict[bytes, int]) -> tuple[dict[int, int], int]:
    """How many times the content, in `pieces`, draws each form its resources name (object number -> count), and
    how many bytes were read. A `/Name Do` cut between two pieces is read whole: the end of a piece after its last
    `Do` (up to 256 bytes) goes on with the next one."""
    drawn: dict[int, int] = {}
    carry, read = b"", 0
    for piece in pieces:
        read += len(piece)
        text = carry + bytes(piece)
        done = 0
        for m in _DO_RE.finditer(text):
            if m.end() >= len(text):  # "Do" at the very end may be the start of a longer word in the next piece
                break
            if (num := names.get(m.group(1))) is not None:
                drawn[num] = drawn.get(num, 0) + 1
            done = m.end()
        carry = text[max(done, len(text) - 256):]
    for m in _DO_RE.finditer(carry):
        if (num := names.get(m.group(1))) is not None:
            drawn[num] = drawn.get(num, 0) + 1
    return drawn, read


def self_multiplying_forms(data: bytes) -> list[int]:
    """Object numbers of the forms in a cycle that draws itself more than once around (empty when none). A cycle
    no object outside it refers to is never drawn, and is left alone."""
    if not _FORM_RE.search(data):
        return []
    forms = _forms(data)
    draws = {num: {g: n for g, n in drawn.items() if g in forms} for num, (drawn, _) in forms.items()}
    found: set[int] = set()
    for num in draws:
        if num in found:
            continue
        cycle = _cycle_through(num, draws)
        if cycle and sum(n for f in cycle for g, n in draws[f].items() if g in cycle) > len(cycle) \
                and _referenced(data, cycle, [forms[f][1] for f in cycle]):
            found |= cycle
    return sorted(found)


def _referenced(data: bytes, nums: set[int], own: list[tuple[int, int]]) -> bool:
    """Whether an object other than the forms `nums` refers to one of them (`N 0 R`), in the file's bytes or its
    object streams: `own` are the spans of their dictionaries, which refer to each other. Read only for a cycle
    found (rare). Any reference counts, from a page or not: an unused form that draws the cycle still has it
    rejected."""
    for m in _REF_RE.finditer(data):
        if int(m.group(1)) in nums and not any(a <= m.start() < b for a, b in own):
            return True
    return bool(_OBJSTM_RE.search(data)) and any(int(n) in nums for text in _object_streams(data)
                                                   for n in _REF_RE.findall(text))


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
