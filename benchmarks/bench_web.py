"""Web reading at scale (issue #20, point 4): a ~1 GB WARC built from real pages, repeated (gzip per record, as
Common Crawl ships), read by axk1's WARC reader with its memory sampled as it goes; then pages/s and MB/s per
core of the WARC reader alone, the extractor alone, and the whole per-page path (read + decode + extract), one
process; then the pipeline's extract stage as parallel datatrove tasks over several WARC files.

    # real pages: Debian's Korean and English help, e.g.
    #   apt-get download gimp-help-ko gimp-help-en libreoffice-help-ko libreoffice-help-en-us debian-faq-ko debian-faq
    #   for f in *.deb; do dpkg-deb -x "$f" pages/; done
    .venv/bin/python benchmarks/bench_web.py --pages pages/ [--size-gb 1.0] [--work /tmp/axk1-web-bench]

The WARC is written under --work (never into the repository) and kept there for reruns.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def real_pages(root: Path) -> list[tuple[str, bytes]]:
    from axk1.data.html_pages import folder_pages

    return [(p.url, p.payload) for p in folder_pages(root)]


def build_warc(pages: list[tuple[str, bytes]], path: Path, size_bytes: int) -> tuple[int, int]:
    """Repeats the pages under new URLs until the file reaches size_bytes; returns (records, payload bytes)."""
    from axk1.data.warc import WebPage, write_warc

    written = {"records": 0, "bytes": 0}

    def stream():
        rep = 0
        while True:
            for url, payload in pages:
                if written["records"] % 2000 == 0 and path.exists() and path.stat().st_size >= size_bytes:
                    return
                written["records"] += 1
                written["bytes"] += len(payload)
                yield WebPage(url.replace("https://", f"https://r{rep}.", 1), "2025-03-01T12:00:00Z",
                              "text/html", payload)
            rep += 1

    write_warc(path, stream())
    return written["records"], written["bytes"]


def read_with_memory(path: Path) -> dict:
    from axk1.data.warc import WebPage, read_warc

    size = path.stat().st_size
    samples, pages, payload = [], 0, 0
    t = time.perf_counter()
    for item in read_warc(path):
        if isinstance(item, WebPage):
            pages += 1
            payload += len(item.payload)
            if pages % 20000 == 0:
                samples.append((payload, _rss_mb()))
    elapsed = time.perf_counter() - t
    return {"pages": pages, "file_mb": size / 2**20, "payload_mb": payload / 2**20, "seconds": elapsed,
            "rss_samples_mb": [round(r, 1) for _, r in samples],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def per_page_rates(path: Path, n: int) -> dict:
    """Reader alone, extractor alone, and both with decoding, on the first n pages, in this one process."""
    from axk1.data.charset import decode_html
    from axk1.data.html_extract import extract_main_text
    from axk1.data.warc import WebPage, read_warc

    t = time.perf_counter()
    pages = []
    for item in read_warc(path):
        if isinstance(item, WebPage):
            pages.append(item)
            if len(pages) == n:
                break
    read_s = time.perf_counter() - t
    mb = sum(len(p.payload) for p in pages) / 2**20
    htmls = [decode_html(p.payload, p.content_type)[0] for p in pages]
    extract_main_text(htmls[0])  # imports and set-up are not extraction time
    t = time.perf_counter()
    for h in htmls:
        extract_main_text(h)
    extract_s = time.perf_counter() - t
    t = time.perf_counter()
    for p in pages:
        extract_main_text(decode_html(p.payload, p.content_type)[0], p.url)
    whole_s = time.perf_counter() - t + read_s
    return {"pages": len(pages), "payload_mb": mb,
            "reader": (len(pages) / read_s, mb / read_s), "extractor": (len(pages) / extract_s, mb / extract_s),
            "read+decode+extract": (len(pages) / whole_s, mb / whole_s)}


def pipeline_tasks(pages: list[tuple[str, bytes]], work: Path, files: int, per_file: int, tasks: int,
                   workers: int) -> dict:
    """The extract stage (reader, extraction, URL/PII/language/quality filters, site boilerplate) on datatrove's
    local executor, `tasks` tasks over `files` WARC files."""
    import shutil

    from axk1.data.config import config_from_dict
    from axk1.data.pipeline import run_pipeline
    from axk1.data.stats import account
    from axk1.data.warc import WebPage, write_warc

    src = work / "shards"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    for i in range(files):
        chunk = pages[i * per_file % len(pages):][:per_file]
        write_warc(src / f"part-{i:03d}.warc.gz",
                   (WebPage(u.replace("https://", f"https://f{i}.", 1), "2025-03-01T12:00:00Z", "text/html", b)
                    for u, b in chunk))
    out = work / "pipeline-out"
    shutil.rmtree(out, ignore_errors=True)
    cfg = config_from_dict({"run": {"output_dir": str(out), "tasks": tasks, "workers": workers,
                                    "stages": ["extract"], "start_method": "fork"},
                            "sources": [{"type": "warc", "path": str(src), "name": "crawl"}],
                            "filters": {"quality": {"word_tokenizer": "regex", "max_avg_word_length": 12}}})
    t = time.perf_counter()
    run_pipeline(cfg, progress=False)
    elapsed = time.perf_counter() - t
    acc = account(out)
    return {"files": files, "pages": acc.inputs, "kept": acc.kept, "balanced": acc.balanced, "seconds": elapsed,
            "pages_per_s": acc.inputs / elapsed, "workers": workers}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", required=True, help="folder of real saved pages (searched recursively)")
    ap.add_argument("--size-gb", type=float, default=1.0)
    ap.add_argument("--work", default="/tmp/axk1-web-bench")
    ap.add_argument("--sample", type=int, default=1500, help="pages for the per-page rates")
    ap.add_argument("--files", type=int, default=4, help="WARC files for the parallel-task run")
    ap.add_argument("--per-file", type=int, default=400)
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    pages = real_pages(Path(args.pages))
    print(f"{len(pages)} real pages, {sum(len(b) for _, b in pages) / 2**20:.1f} MB of HTML")
    big = work / f"big-{args.size_gb:g}gb.warc.gz"
    if not big.exists():
        t = time.perf_counter()
        records, payload = build_warc(pages, big, int(args.size_gb * 2**30))
        print(f"built {big}: {records} records, {payload / 2**20:.0f} MB of pages, "
              f"{big.stat().st_size / 2**20:.0f} MB on disk, {time.perf_counter() - t:.0f} s")
    mem = read_with_memory(big)
    print(f"streamed {mem['pages']} pages ({mem['file_mb']:.0f} MB file, {mem['payload_mb']:.0f} MB of pages) in "
          f"{mem['seconds']:.0f} s; RSS every 20000 pages (MB): {mem['rss_samples_mb']}; peak {mem['peak_rss_mb']:.0f}")
    rates = per_page_rates(big, args.sample)
    print(f"one process, first {rates['pages']} pages ({rates['payload_mb']:.1f} MB):")
    for k in ("reader", "extractor", "read+decode+extract"):
        print(f"  {k:<22} {rates[k][0]:8.1f} pages/s {rates[k][1]:8.2f} MB/s")
    print("pipeline extract stage:", pipeline_tasks(pages, work, args.files, args.per_file, args.files, 2))


if __name__ == "__main__":
    main()
