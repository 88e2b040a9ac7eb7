"""Turning `ReportData` into a file: CSV (streamed into a buffer, formula-safe) and PDF.

PDFs up to `CHUNK_ROWS` rows are one WeasyPrint document: a table with a cell per column,
its header repeated on every page (`thead { display: table-header-group }`), "Page x / y" from
CSS counters. Bigger reports would cost WeasyPrint minutes and gigabytes as one document
(layout cost grows with every table cell and every page is kept until the end), so they are:

* laid out as a compact listing: one monospace line per row, columns padded to fixed widths,
  a few lines per table row (WeasyPrint's cost is per box, not per character);
* rendered in chunks of `CHUNK_ROWS` rows, each its own document, on `PDF_WORKERS` worker
  processes at once (apps/reports/pdfworker.py), each chunk repeating the table header;
* merged with pypdf, and numbered afterwards ("Page x / y" stamped on every page), because no
  chunk knows the total while it is laid out.

Memory stays bounded: rows are read in batches, one wave of chunk HTML sits in the parent,
and each worker holds one chunk's layout.
"""

from __future__ import annotations

import csv
import io
import os
import queue
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from apps.reports.csvstream import safe_cell
from apps.reports.kinds.base import Column, ReportData
from apps.reports.pdfworker import HEADER, read_frame, render_html, write_frame

LINES_PER_BLOCK = 5
# An A4 landscape page of the compact listing holds 9 blocks of 5 lines (line heights are set
# in em in report_pdf.html, so this does not depend on the font's metrics). Chunks of whole
# pages: only the first chunk (title block on its first page) ends on a part-filled page.
BLOCKS_PER_PAGE = 9
CHUNK_ROWS = 22 * BLOCKS_PER_PAGE * LINES_PER_BLOCK  # 990 rows, 22 pages
PROGRESS_EVERY = 1_000

Progress = Callable[[int, int], None]  # (rows done, pages so far)


@dataclass
class Rendered:
    content: bytes
    rows: int
    pages: int


@dataclass
class Frame:
    """What surrounds the rows: header facts, running title, reader's labels."""

    title: str
    owner_name: str
    facts: list[tuple[Any, str]]
    generated_label: str
    language: str


def _workers() -> int:
    configured = int(getattr(settings, "REPORTS_PDF_WORKERS", 0) or 0)
    if configured > 0:
        return configured
    return max(1, min(4, os.cpu_count() or 1))


# --- CSV ----------------------------------------------------------------------------------------


def render_csv(data: ReportData, progress: Progress) -> Rendered:
    buffer = io.BytesIO()
    text = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
    text.write("\ufeff")
    writer = csv.writer(text)
    writer.writerow([safe_cell(h) for h in data.csv_header])
    if data.csv_lines is not None:
        lines: Iterator[list[Any]] = data.csv_lines()
    else:
        lines = (data.csv_row(record) for record in data.records())
    done = 0
    for line in lines:
        writer.writerow([safe_cell(v) for v in line])
        done += 1
        if done % PROGRESS_EVERY == 0:
            progress(done, 0)
    text.flush()
    content = buffer.getvalue()
    text.detach()
    return Rendered(content=content, rows=done, pages=0)


# --- PDF ----------------------------------------------------------------------------------------


def _fit(text: str, width: int, align: str) -> str:
    text = " ".join(str(text).split())
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text.rjust(width) if align == "right" else text.ljust(width)


def compact_line(columns: list[Column], cells: list[str]) -> str:
    return " ".join(_fit(c, col.width, col.align) for col, c in zip(columns, cells, strict=False))


def _chunk_html(
    frame: Frame,
    data: ReportData,
    *,
    rows: list[list[str]],
    first: bool,
    compact: bool,
    numbered: bool,
) -> str:
    columns = list(data.columns)
    context: dict[str, Any] = {
        "language": frame.language,
        "title": frame.title,
        "owner_name": frame.owner_name,
        "running_title": f"{frame.owner_name} · {frame.title}",
        "confidential": _("Confidential"),
        "generated_label": frame.generated_label,
        "page_word": _("Page"),
        "numbered": numbered,
        "page_offset": 0,
        "first": first,
        "facts": frame.facts,
        "figures": data.figures,
        "note": data.note,
        "compact": compact,
        "columns": columns,
    }
    if compact:
        context["header_line"] = compact_line(columns, [str(c.label) for c in columns])
        lines = [compact_line(columns, r) for r in rows]
        context["blocks"] = [
            "\n".join(lines[i : i + LINES_PER_BLOCK]) for i in range(0, len(lines), LINES_PER_BLOCK)
        ]
    else:
        context["rows"] = rows
    return render_to_string("reports/report_pdf.html", context)


class WorkerPool:
    """`size` pdfworker processes fed by as many threads: `submit(html)` returns a future of
    the PDF, so the caller builds the next chunk while the workers lay out the previous ones
    (the threads only wait on pipes, the layout runs in the worker processes)."""

    def __init__(self, size: int) -> None:
        root = Path(__file__).resolve().parent.parent.parent
        env = {**os.environ, "PYTHONPATH": str(root)}
        self.size = size
        self._free: queue.Queue[subprocess.Popen[bytes]] = queue.Queue()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[Any] = []
        for _index in range(size):
            log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
            proc = subprocess.Popen(
                [sys.executable, "-m", "apps.reports.pdfworker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,  # a file, not a pipe: a chatty worker can never block on it
                cwd=str(root),
                env=env,
            )
            self._procs.append(proc)
            self._logs.append(log)
            self._free.put(proc)
        self._threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="pdfworker")

    def _render(self, html: bytes) -> bytes:
        proc = self._free.get()
        try:
            assert proc.stdin is not None
            assert proc.stdout is not None
            write_frame(proc.stdin, html)  # type: ignore[arg-type]
            pdf = read_frame(proc.stdout)  # type: ignore[arg-type]
        finally:
            self._free.put(proc)
        if not pdf:
            raise RuntimeError("a PDF worker failed (see its log)")
        return pdf

    def submit(self, html: str) -> Future[bytes]:
        return self._threads.submit(self._render, html.encode("utf-8"))

    def close(self) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)
        for proc, log in zip(self._procs, self._logs, strict=True):
            try:
                if proc.stdin is not None:
                    proc.stdin.write(HEADER.pack(0))
                    proc.stdin.close()
                proc.wait(timeout=10)
            except Exception:
                proc.kill()
                proc.wait()
            log.close()


def _stamp_page_numbers(pdf_parts: list[bytes], page_word: str) -> tuple[bytes, int]:
    """Merge the chunk PDFs and write "Page x / y" at the bottom right of every page."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import (
        ArrayObject,
        DecodedStreamObject,
        DictionaryObject,
        NameObject,
    )

    writer = PdfWriter()
    for part in pdf_parts:
        writer.append(PdfReader(io.BytesIO(part)))
    total = len(writer.pages)
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
                NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
            }
        )
    )
    before = DecodedStreamObject()
    before.set_data(b"q\n")
    before_ref = writer._add_object(before)
    for number, page in enumerate(writer.pages, start=1):
        label = f"{page_word} {number} / {total}"
        encoded = label.encode("cp1252", errors="replace")
        encoded = encoded.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
        width = float(page.mediabox.width)
        x = width - 28.35 - 3.9 * len(label)  # 10 mm margin, ~Helvetica 7.5 pt advance
        after = DecodedStreamObject()
        after.set_data(
            b"Q\nq BT /CustosPageNo 7.5 Tf 0.33 0.33 0.33 rg "
            + f"{x:.1f} 22 Td (".encode()
            + encoded
            + b") Tj ET Q\n"
        )
        contents = page.get("/Contents")
        parts = ArrayObject([before_ref])
        if isinstance(contents, ArrayObject):
            parts.extend(contents)
        elif contents is not None:
            parts.append(page.raw_get("/Contents"))
        parts.append(writer._add_object(after))
        page[NameObject("/Contents")] = parts
        found: Any = page.get("/Resources")
        if found is None:
            found = DictionaryObject()
            page[NameObject("/Resources")] = found
        resources: Any = found.get_object()
        fonts: Any = resources.get("/Font")
        if fonts is None:
            fonts = DictionaryObject()
            resources[NameObject("/Font")] = fonts
        fonts.get_object()[NameObject("/CustosPageNo")] = font
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), total


def _page_count(pdf: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


def render_pdf(frame: Frame, data: ReportData, progress: Progress) -> Rendered:
    # Workers start first when the count says the report is large: their WeasyPrint import
    # overlaps the reading of the first rows.
    pool = WorkerPool(_workers()) if data.count > CHUNK_ROWS else None
    try:
        return _render_pdf(frame, data, progress, pool)
    finally:
        if pool is not None:
            pool.close()


def _render_pdf(
    frame: Frame, data: ReportData, progress: Progress, pool: WorkerPool | None
) -> Rendered:
    records = data.records()
    first_rows = [data.pdf_row(r) for r in islice(records, CHUNK_ROWS)]
    more = list(islice(records, 1))
    if not more:  # one document: the rich table, CSS page numbers
        html = _chunk_html(frame, data, rows=first_rows, first=True, compact=False, numbered=True)
        pdf = render_html(html)
        return Rendered(content=pdf, rows=len(first_rows), pages=_page_count(pdf))
    if pool is None:  # more rows than counted (rows added meanwhile)
        pool = WorkerPool(_workers())
        try:
            return _render_chunks(frame, data, progress, pool, first_rows, more, records)
        finally:
            pool.close()
    return _render_chunks(frame, data, progress, pool, first_rows, more, records)


def _render_chunks(
    frame: Frame,
    data: ReportData,
    progress: Progress,
    pool: WorkerPool,
    first_rows: list[list[str]],
    more: list[Any],
    records: Iterator[Any],
) -> Rendered:

    def chunks() -> Iterator[list[list[str]]]:
        yield first_rows
        pending = [data.pdf_row(r) for r in more]
        for record in records:
            pending.append(data.pdf_row(record))
            if len(pending) >= CHUNK_ROWS:
                yield pending
                pending = []
        if pending:
            yield pending

    total = max(data.count, 1)
    futures: list[tuple[Future[bytes], int]] = []
    done = 0
    waited = 0
    for index, rows in enumerate(chunks()):
        html = _chunk_html(frame, data, rows=rows, first=index == 0, compact=True, numbered=False)
        futures.append((pool.submit(html), len(rows)))
        # at most two chunks per worker in flight: memory stays bounded
        while len(futures) - waited > 2 * pool.size:
            future, count = futures[waited]
            future.result()
            waited += 1
            done += count
            progress(min(done, total), 0)
    parts = [future.result() for future, _count in futures]
    done = sum(count for _future, count in futures)
    content, pages = _stamp_page_numbers(parts, _("Page"))
    return Rendered(content=content, rows=done, pages=pages)
