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
_MAX_FORM_SCAN inflated bytes for all the forms (the forms past it are not read). Only a form whose resources put
it in a cycle of names (it names itself, or a form that names it back, ...) is read: no other can be in a cycle
of drawing. A cycle of forms whose members draw members of the cycle more than once in all, counted around the
cycle, grows without end, if it is drawn at all: a cycle that no other object refers to is left alone (the
references to the forms are gathered in one pass over the file, for all the cycles).
"""

from __future__ import annotations

import re
import zlib
from bisect import bisect_right
from collections.abc import Iterable
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


def _dictionaries(data: bytes) -> dict[int, tuple[dict[bytes, int], tuple[int, int], tuple[int, int], bool]]:
    """Each form's object number: the forms its `/XObject` resources name (name -> object number), where its
    dictionary and its content lie in `data`, and whether the content is Flate-compressed (else unfiltered; a form
    with another filter is left out)."""
    dicts = {}
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
        dicts[int(start.group(1))] = (names, (start.end(), opened.start()),
                                      (opened.end(), end if end >= 0 else len(data)), b"/FlateDecode" in head)
    return dicts


def _forms(data: bytes) -> dict[int, tuple[dict[int, int], tuple[int, int]]]:
    """Each form's object number: the forms it draws (object number -> how many `Do`s) and where its dictionary
    lies in `data`. Only the counts are kept, not the content (one inflated content per form, kept for them all,
    took 2.5 GB for 2,500 unused forms of 1 MiB each in a 5 MB file); at most _MAX_FORM_SCAN inflated bytes are read
    in all, and the forms past that are left unread (a cycle among them is not found here). Only the content of a
    form that its resources put in a cycle of names is read: another draws no cycle, and 65 forms of 1 MiB with
    no resources at all used the whole budget before the cycle a page drew was reached."""
    dicts = _dictionaries(data)
    named = {num: {g for g in names.values() if g in dicts} for num, (names, _, _, _) in dicts.items()}
    may_cycle = {f for c in _components(named) if len(c) > 1 or next(iter(c)) in named[next(iter(c))] for f in c}
    forms = {}
    left = _MAX_FORM_SCAN
    view = memoryview(data)  # the streams are read in place, not copied
    for num, (names, own, (a, b), flate) in dicts.items():
        if num not in may_cycle or left <= 0:
            forms[num] = ({}, own)
            continue
        raw = view[a:b]
        limit = min(MAX_FORM_BYTES, left)
        pieces = _inflated(raw, limit) if flate else \
            (raw[i:min(i + _PIECE, limit)] for i in range(0, min(len(raw), limit), _PIECE))
        drawn, read = _count_draws(pieces, names)
        forms[num] = (drawn, own)
        left -= read
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
    refs = in_objstms = None  # read once, at the first cycle found: a file of many cycles is not read again for each
    for cycle in _components(draws):
        if sum(n for f in cycle for g, n in draws[f].items() if g in cycle) <= len(cycle):
            continue
        if refs is None:
            refs = _referrers(data, forms)
        if any(by is None or by not in cycle for f in cycle for by in refs.get(f, ())):
            found |= cycle
            continue
        if in_objstms is None:
            in_objstms = {int(n) for text in _object_streams(data) for n in _REF_RE.findall(text)
                          if int(n) in forms} if _OBJSTM_RE.search(data) else set()
        if cycle & in_objstms:
            found |= cycle
    return sorted(found)


def _referrers(data: bytes, forms: dict[int, tuple[dict[int, int], tuple[int, int]]]) -> dict[int, set[int | None]]:
    """For each form some object refers to (`N 0 R`) in the file's bytes, the forms whose dictionaries do (their
    spans are in `forms`), None for any other object. One pass over the file for all the cycles: one pass for each
    of their members took 17.6 s for 1,000 unreferenced cycles of two forms in 303 KB. Any reference counts, from a
    page or not: an unused form that draws a cycle still has it rejected."""
    spans = sorted((a, b, num) for num, (_, (a, b)) in forms.items())
    starts = [a for a, _, _ in spans]
    refs: dict[int, set[int | None]] = {}
    for m in _REF_RE.finditer(data):
        if (target := int(m.group(1))) not in forms:
            continue
        i = bisect_right(starts, m.start()) - 1
        refs.setdefault(target, set()).add(spans[i][2] if i >= 0 and m.start() < spans[i][1] else None)
    return refs


def _components(edges: dict[int, Iterable[int]]) -> list[set[int]]:
    """The strongly connected components of the graph `edges` (Tarjan's algorithm), each node in one: a cycle is
    found once, not again from each of its members. Without recursion, as a chain of thousands of forms would pass
    Python's recursion limit."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    out = []
    for root in edges:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(edges.get(root, ())))]
        while work:
            v, todo = work[-1]
            for w in todo:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(edges.get(w, ()))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = set()
                    while (w := stack.pop()) != v:
                        on_stack.discard(w)
                        component.add(w)
                    on_stack.discard(v)
                    out.append(component | {v})
    return out


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
