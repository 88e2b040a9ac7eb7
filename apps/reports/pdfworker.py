"""A WeasyPrint process for large reports: `python -m apps.reports.pdfworker`.

Reads frames from stdin (8-byte big-endian length, then that many bytes of UTF-8 HTML) and
answers each with a frame holding the PDF; a zero-length frame ends it. No Django here: the
parent renders the templates, this process only lays out and writes PDF, so chunks of one
report are laid out on several cores at once (a Celery prefork child may not fork daemonic
multiprocessing children, but it may start a plain subprocess).
"""

from __future__ import annotations

import struct
import sys
from typing import Any, BinaryIO

HEADER = struct.Struct(">Q")
WARM_UP = (
    '<p style="font-family: DejaVu Sans">Custos <b>1</b> '
    '<code style="font-family: DejaVu Sans Mono">2 <b>3</b></code></p>'
)


def no_network(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Reports never fetch anything: a stray <img src="http://..."> must not leak or hang."""
    raise ValueError(f"report rendering does not fetch {url!r}")


def render_html(html: str) -> bytes:
    import weasyprint

    document = weasyprint.HTML(string=html, url_fetcher=no_network, base_url=".")
    return bytes(document.write_pdf())


def read_frame(stream: BinaryIO) -> bytes | None:
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    if size == 0:
        return None
    data = stream.read(size)
    if len(data) < size:
        return None
    return data


def write_frame(stream: BinaryIO, data: bytes) -> None:
    stream.write(HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def main() -> int:
    import logging

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("weasyprint.progress").setLevel(logging.ERROR)
    # Loaded and warmed up now, while the parent is still reading rows: the first document
    # also initialises fontconfig and the report fonts' Pango/HarfBuzz faces.
    render_html(WARM_UP)

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        frame = read_frame(stdin)
        if frame is None:
            return 0
        try:
            pdf = render_html(frame.decode("utf-8"))
        except Exception as exc:  # reported to the parent as an empty answer + stderr
            sys.stderr.write(f"pdfworker: {type(exc).__name__}: {exc}\n")
            sys.stderr.flush()
            pdf = b""
        write_frame(stdout, pdf)


if __name__ == "__main__":
    raise SystemExit(main())
