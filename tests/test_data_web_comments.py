"""An HTML comment (or processing instruction) in the middle of a paragraph no longer cuts the paragraph: lxml kept
comments in the tree handed to trafilatura, which read one as the paragraph's end, dropped the rest of the sentence
and glued its first words to the next text kept ("Chapter\\n2let keyword as follows:"). The parser now leaves
comments and processing instructions out of the tree."""

from pathlib import Path

import pytest

from axk1.data.html_extract import extract_main_text

# The Rust Book, chapter 3.1, its first 31 lines (tests/fixtures/web/SOURCES.md): its source writes `<!-- ignore -->`
# after a cross-reference, in the middle of a paragraph.
RUST_BOOK = (Path(__file__).parent / "fixtures" / "web" / "comment-in-paragraph.html").read_text(encoding="utf-8")
COMMENT = "<!-- ignore -->"


def _words(text: str) -> list[str]:
    return text.split()


def _page(body: str) -> str:
    return f"<html><body><main>{body}</main></body></html>"


def test_a_comment_inside_a_paragraph_keeps_the_whole_paragraph():
    assert COMMENT in RUST_BOOK
    got = extract_main_text(_page(RUST_BOOK), "http://x/").text
    assert "you can declare a new variable with the same name" in " ".join(_words(got))
    assert "overshadows the first" in got
    assert "2let" not in got  # the words around the lost text were glued together


@pytest.mark.parametrize("inserted", ["<!-- x -->", "<!---->", "<?php echo 1; ?>", "<!--[if IE]>old<![endif]-->"])
def test_comments_and_processing_instructions_change_no_paragraph(inserted):
    clean = extract_main_text(_page(RUST_BOOK.replace(COMMENT, "")), "http://x/").text
    marked = extract_main_text(_page(RUST_BOOK.replace(COMMENT, inserted)), "http://x/").text
    assert "overshadows the first" in clean
    assert _words(marked) == _words(clean)
