#!/usr/bin/env bash
# The real Korean PDF set of issue 16: every PDF in Debian 12's texlive-lang-korean (ko.TeX, lshort-ko, oblivoir,
# cjk-ko, pmhanguljamo manuals; pdfTeX, (x)dvipdfmx, Quartz and Ghostscript producers): 17 files, 313 pages.
# Package registries only: apt-get download, then the .deb is unpacked without installing it.
#     benchmarks/fetch_ko_pdfs.sh [DEST]        (default: ~/.cache/axk1/ko-pdfs)
set -euo pipefail
dest="${1:-$HOME/.cache/axk1/ko-pdfs}"
version="2022.20230122-1"
mkdir -p "$dest"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download "texlive-lang-korean=$version" 2>/dev/null; then
  echo "apt-get download failed: run 'apt-get update' first (Debian 12 has texlive-lang-korean $version)" >&2
  exit 1
fi
dpkg-deb -x texlive-lang-korean_*.deb x
find x/usr/share/doc -name '*.pdf' -exec cp {} "$dest/" \;
echo "$(ls "$dest"/*.pdf | wc -l) PDFs in $dest"
