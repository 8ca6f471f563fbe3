"""What a file is and the text in it: text formats (plain text, Markdown, CSV, JSON, code, …)
decoded as UTF-8, PDFs read with pypdf, images recognised by their bytes. Anything else is
415 `unsupported_file_type`. The type is decided by the bytes first (a PDF or image is what its
header says, whatever its name), then by the name and declared type, and a "text" file must
really be text (UTF-8, no NUL bytes), so a renamed binary is refused, not fed to the model."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Final

from hermes.errors import InvalidRequest, UnsupportedFileType
from hermes.wire.content_parts import sniff_image

log = logging.getLogger("hermes.gateway")

PDF: Final = "application/pdf"
_TEXT_TYPES: Final = frozenset(
    {
        "application/json", "application/xml", "application/javascript", "application/x-yaml",
        "application/yaml", "application/toml", "application/x-ndjson", "application/sql",
        "application/x-sh", "application/x-python", "application/csv", "image/svg+xml",
    }
)  # fmt: skip
_TEXT_SUFFIXES: Final = frozenset(
    {
        ".txt", ".md", ".markdown", ".rst", ".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".xml",
        ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".log", ".html", ".htm", ".css",
        ".py", ".js", ".mjs", ".ts", ".tsx", ".jsx", ".java", ".c", ".h", ".cc", ".cpp", ".hpp",
        ".cs", ".go", ".rs", ".rb", ".php", ".pl", ".swift", ".kt", ".scala", ".sh", ".bash",
        ".zsh", ".sql", ".r", ".lua", ".tex", ".diff", ".patch", ".env", ".svg", ".vue",
    }
)  # fmt: skip


_CONTROL: Final = bytes(sorted(set(range(32)) - {9, 10, 12, 13, 27}))


@dataclass(frozen=True, slots=True)
class Extracted:
    text: str
    pages: int | None = None  # a PDF's page count
    pages_read: int | None = None  # of which this many were read (api_server.max_pdf_pages)


def media_type(data: bytes, filename: str | None, declared: str | None) -> str:
    """The file's type: `application/pdf`, an image type, or a text type (`text/plain` when
    only the name or the bytes say text). UnsupportedFileType for anything else."""
    if data.startswith(b"%PDF-"):
        return PDF
    image = sniff_image(data)
    if image is not None:
        return image
    declared = (declared or "").split(";")[0].strip().lower()
    suffix = PurePosixPath(filename or "").suffix.lower()
    if declared == PDF or suffix == ".pdf":
        raise InvalidRequest(f"{_name(filename)} is not a PDF (it lacks the %PDF- header)")
    texty = declared.startswith("text/") or declared in _TEXT_TYPES or suffix in _TEXT_SUFFIXES
    # Without a type, a name without a suffix may still be text (README, Makefile); a name
    # with another suffix (.docx, .exe) is not taken for text on its bytes alone.
    untyped = declared in ("", "application/octet-stream") and not suffix
    if (texty or untyped) and _is_text(data):
        return declared if declared.startswith("text/") or declared in _TEXT_TYPES else "text/plain"
    raise UnsupportedFileType(
        f"{_name(filename)} ({declared or 'unknown type'}) is not a file hermes can read: send "
        "text (plain text, Markdown, CSV, JSON, code, …) or PDF files, and PNG, JPEG, GIF or "
        "WebP images"
    )


def _name(filename: str | None) -> str:
    return repr(filename) if filename else "the file"


def _is_text(data: bytes) -> bool:
    """UTF-8 without control characters but the ones text uses (tab, line breaks, form feed,
    escape): binary formats that happen to decode (a zip's header) are not text."""
    head = data[:65536]
    if len(head.translate(None, _CONTROL)) != len(head) or b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def extract_text(data: bytes, kind: str, *, max_pages: int) -> Extracted:
    """The text of a file `media_type` said is text or PDF. Blocking (pypdf is pure Python):
    run it off the event loop."""
    if kind != PDF:
        return Extracted(data.decode("utf-8-sig"))
    return _pdf_text(data, max_pages)


def _pdf_text(data: bytes, max_pages: int) -> Extracted:
    from pypdf import PdfReader  # imported on first use: most gateways never see a PDF
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise InvalidRequest("the PDF is encrypted with a password; send it unlocked")
        pages = reader.pages
        total = len(pages)
        texts = [pages[i].extract_text() or "" for i in range(min(total, max_pages))]
    except InvalidRequest:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        # pypdf raises several kinds on a broken file; all mean the same to the client.
        log.info("unreadable PDF: %s: %s", type(exc).__name__, exc)
        raise InvalidRequest(f"the PDF could not be read ({type(exc).__name__})") from None
    body = "\n\n".join(f"[page {i + 1}]\n{t.strip()}" for i, t in enumerate(texts))
    return Extracted(body, total, len(texts))
