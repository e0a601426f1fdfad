"""Markup nested deeper than the HTML parser goes, flattened so that the page keeps its text.

libxml2 (lxml's parser) stops at the 256th level of open elements ("Excessive depth in document") and the rest of
the page is gone: pages that never close their tags get there (5,000 lines of `<div>abc<br>` kept 759 of 15,000
characters). Its XML_PARSE_HUGE option only moves the limit to 2,048 levels, and trafilatura's time grows with the
square of the depth (6 s on 2,000 such lines). Browsers bound the depth instead (Blink makes an element past 512
levels a sibling of the deepest one); so does `bound_nesting`: a start tag that would open a level past
`MAX_DEPTH` first closes the innermost open element. The text stays whole and in order; only the nesting past that
level changes. The extractor uses it only for a page the parser stopped on, and checks the parser's word again.

Open elements are counted from the markup as it nests, without the parser's implied end tags (a `<p>` that the
next `<p>` ends stays counted), so the count is never below the parser's, and the closing tags added for elements
the parser has closed already are ignored by it.
"""

from __future__ import annotations

import re

MAX_DEPTH = 200  # under libxml2's 255, with room for the <html> and <body> it adds when a page has none

_VOID = frozenset("area base basefont bgsound br col embed frame hr img input keygen link meta param source track "
                  "wbr".split())
# a comment (libxml2 reads `<!-->` and `<!--->` as empty ones, as HTML5 does), an element whose content is text to
# the parser (tags in it open nothing), or a tag: group 1 is "/" for an end tag, group 2 the name, group 3 "/" for
# a self-closed one (libxml2 opens nothing for `<div/>`)
_TOKEN = re.compile(r"<!--(?:-?>|.*?(?:-->|\Z))"
                    r"|<(?:script|style|title|textarea|xmp|plaintext)\b.*?(?:</(?:script|style|title|textarea|xmp)"
                    r"\s*>|\Z)"
                    r"|<(/?)([a-zA-Z][^\s/>]*)[^>]*?(/?)>", re.DOTALL | re.IGNORECASE)


def bound_nesting(html: str, depth: int | None = None) -> str:
    """`html` with an end tag added before each start tag that would open more than `depth` elements (MAX_DEPTH)."""
    depth = depth or MAX_DEPTH
    parts, open_tags, copied = [], [], 0
    for m in _TOKEN.finditer(html):
        end, name, self_closed = m.group(1, 2, 3)
        if not name:
            continue  # a comment or a text-only element
        name = name.lower()
        if end:
            if name in open_tags:  # an end tag closes every element opened after its own
                del open_tags[len(open_tags) - 1 - open_tags[::-1].index(name):]
        elif name not in _VOID and not self_closed:
            if len(open_tags) >= depth:
                parts += [html[copied:m.start()], f"</{open_tags.pop()}>"]
                copied = m.start()
            open_tags.append(name)
    return "".join(parts) + html[copied:]
