"""OCR of the pages the text layer cannot give, page by page within the document's time.

A scanned page takes tesseract ~8 s at 300 dpi on one core, so a 40-page scan overran the 300 s a file is allowed
and the worker was killed with every page it had already read. Now each page gets at most `ocr_page_timeout_s`
and never more than the document has left (its deadline less a reserve for laying out the rest): a page that runs
out, or whose OCR fails, is rejected with that reason, and once the document's time is spent the remaining pages
are rejected as not tried. The pages read are kept; `OcrBudget.summary()` is the document's count of them.

tesseract writes its text to a file in the worker's TMPDIR, not a pipe: killed at its limit, it (or a helper of
its) holding a pipe open would hang the read, and the page's limit with it.
"""

from __future__ import annotations

import inspect
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

OcrFn = Callable[..., str]  # a pypdfium2 page (and, if the hook takes it, timeout_s=seconds) -> text

MIN_PAGE_S = 1.0  # a page is not started with less time than this left: it could not finish


class OcrTimeout(Exception):
    """The page's OCR ran out of its time and was stopped."""


def tesseract_ocr(lang: str = "kor+eng") -> OcrFn | None:
    """An OCR hook using the tesseract binary (Debian: tesseract-ocr tesseract-ocr-kor), or None if absent."""
    exe = shutil.which("tesseract")
    if exe is None:
        return None

    def ocr(page, timeout_s: float | None = None) -> str:
        image = page.render(scale=300 / 72).to_pil()
        with tempfile.TemporaryDirectory() as tmp:
            png, out, err = Path(tmp) / "page.png", Path(tmp) / "page", Path(tmp) / "stderr"
            image.save(png)
            with open(err, "wb") as err_f:
                proc = subprocess.Popen([exe, str(png), str(out), "-l", lang], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=err_f)
                try:
                    code = proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    raise OcrTimeout(f"{timeout_s:.0f} s") from None
            if code != 0:
                raise RuntimeError(f"tesseract exit code {code}: {err.read_text(errors='replace').strip()[-200:]}")
            return Path(f"{out}.txt").read_text(encoding="utf-8", errors="replace")

    return ocr


def ocr_hook(kind: str, lang: str, ocr: OcrFn | None) -> OcrFn | None:
    """The hook given, else tesseract for `kind` auto/tesseract (an error when tesseract must be there and is not)."""
    if ocr is None and kind in ("auto", "tesseract"):
        ocr = tesseract_ocr(lang)
        if ocr is None and kind == "tesseract":
            raise FileNotFoundError("ocr = 'tesseract' but no tesseract binary: apt-get install tesseract-ocr "
                                    "tesseract-ocr-kor, or set ocr = 'auto' / 'none'")
    return ocr


def _takes_timeout(ocr: OcrFn) -> bool:
    try:
        return "timeout_s" in inspect.signature(ocr).parameters
    except (TypeError, ValueError):
        return False


@dataclass
class OcrBudget:
    """One document's OCR: the time it may take and what came of each page sent to it."""
    page_s: float                     # at most this long a page
    deadline: float                   # time.monotonic() by which OCR must be over
    pages: int = 0                    # read
    failed: list[int] = field(default_factory=list)      # 1-based pages whose OCR timed out or failed
    not_tried: list[int] = field(default_factory=list)   # 1-based pages left when the document's time was spent
    seconds: float = 0.0

    def read(self, ocr: OcrFn, page, number: int) -> tuple[str | None, str]:
        """The page's OCR text, or None and why not (the words go into the page's rejection reason)."""
        left = self.deadline - time.monotonic()
        if left < MIN_PAGE_S:
            self.not_tried.append(number)
            return None, "OCR not tried: the document's time (timeout_s) was spent on earlier pages"
        limit = min(self.page_s, left)
        start = time.monotonic()
        try:
            text = ocr(page, timeout_s=limit) if _takes_timeout(ocr) else ocr(page)
        except OcrTimeout:
            self.failed.append(number)
            return None, f"OCR stopped after {limit:.0f} s (ocr_page_timeout_s, or the document's time left)"
        except MemoryError:
            raise  # the worker's memory cap: the file fails as pdf_memory_limit
        except Exception as e:  # noqa: BLE001 - a hook's failure costs this page, named, not the document
            self.failed.append(number)
            return None, f"OCR failed: {type(e).__name__}: {str(e)[:200]}"
        finally:
            self.seconds += time.monotonic() - start
        self.pages += 1
        return text, ""

    def summary(self) -> dict:
        return {"pages": self.pages, "failed": len(self.failed), "not_tried": len(self.not_tried),
                "seconds": round(self.seconds, 1)}
