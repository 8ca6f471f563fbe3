"""Content parts beyond text in a client's request, for both the chat and the Responses parsers:
images (chat `image_url`, Responses `input_image`) and files (chat `file`, Responses
`input_file`). Pure: a part is checked and decoded here (a malformed data URL or base64 is a 400
naming the part); what needs the profile (limits, the model's vision, the file store, the
workspace) is the gateway's, which gets each part back as an `Attachment` with its place.

Both APIs' shapes are read in both, since clients mix them: `image_url` as an object
(`{"url", "detail"}`, chat) or a string (Responses), and a file's fields under `file` (chat) or
on the part itself (Responses)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from hermes.errors import InvalidRequest, UnsupportedFileType
from hermes.messages import Image
from hermes.wire.fastjson import preview

__all__ = [
    "IMAGE_TYPES",
    "Attachment",
    "FilePart",
    "ImagePart",
    "decode_base64",
    "parse_parts",
    "sniff_image",
]

IMAGE_PARTS: Final = frozenset({"image_url", "input_image"})
FILE_PARTS: Final = frozenset({"file", "input_file"})
# What every provider hermes speaks takes: OpenAI, Anthropic, Gemini and Ollama alike.
IMAGE_TYPES: Final = ("image/png", "image/jpeg", "image/gif", "image/webp")
DETAILS: Final = ("auto", "low", "high")
MAX_URL: Final = 8192
MAX_ID: Final = 256
MAX_FILENAME: Final = 1024  # kept only in a neutralised form (see gateway.uploads)
_DATA_URL: Final = re.compile(r"data:([^,;]*)((?:;[^,;]*)*),", re.IGNORECASE | re.DOTALL)
_SPACE: Final = re.compile(rb"[ \t\r\n]+")
_EXTENSIONS: Final = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image part: `image` when it came inline or by URL (`size`: its decoded bytes, 0 for
    a URL), else the `file_id` of an uploaded one."""

    param: str
    image: Image | None = None
    size: int = 0
    file_id: str | None = None


@dataclass(frozen=True, slots=True)
class FilePart:
    """A file part: its bytes (`data`, with the `media_type` its data URL declared) or the
    `file_id` of an uploaded one; `filename` as the client gave it (untrusted)."""

    param: str
    data: bytes | None = None
    media_type: str | None = None
    file_id: str | None = None
    filename: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """A part and the index of the message (of the parsed request) it belongs to."""

    message: int
    part: ImagePart | FilePart


def parse_parts(
    raw: list[Any], where: str, text_types: frozenset[str]
) -> tuple[str, list[ImagePart | FilePart]]:
    """The text of a content-part array (parts joined by newlines) and its image and file parts,
    in order. Other part types (audio, refusals) are dropped, as before."""
    texts: list[str] = []
    parts: list[ImagePart | FilePart] = []
    for j, part in enumerate(raw):
        at = f"{where}[{j}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise InvalidRequest(
                f"'{at}' must be an object with a string 'type'.", param=f"{at}.type"
            )
        kind = part["type"]
        if kind in text_types:
            text = part.get("text")
            if not isinstance(text, str):
                raise InvalidRequest(f"'{at}.text' must be a string.", param=f"{at}.text")
            texts.append(text)
        elif kind in IMAGE_PARTS:
            parts.append(_image_part(part, at))
        elif kind in FILE_PARTS:
            parts.append(_file_part(part, at))
    # Clients split paragraphs into parts without trailing newlines; "" would glue them together.
    return "\n".join(texts), parts


def _image_part(part: Mapping[str, Any], at: str) -> ImagePart:
    raw = part.get("image_url")
    detail = part.get("detail")
    param = f"{at}.image_url"
    if isinstance(raw, dict):  # chat: {"url", "detail"}
        detail = raw.get("detail", detail)
        raw, param = raw.get("url"), f"{param}.url"
    detail = _detail(detail, at)
    if raw is None:
        file_id = part.get("file_id")
        if file_id is None:
            raise InvalidRequest(
                f"'{at}' needs an 'image_url' (an https or data: URL) or a 'file_id'.",
                param=f"{at}.image_url",
            )
        return ImagePart(at, file_id=_file_id(file_id, f"{at}.file_id"))
    if not isinstance(raw, str) or not raw:
        raise InvalidRequest(f"'{param}' must be a non-empty string.", param=param)
    if raw[:5].lower() == "data:":
        media_type, data = decode_data_url(raw, param)
        real = _image_type(media_type, data, param)
        return ImagePart(at, Image(real, _b64(data), detail=detail), size=len(data))
    return ImagePart(at, Image(_url_type(raw), url=_https_url(raw, param), detail=detail))


def _detail(raw: Any, at: str) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, str) and raw in DETAILS:
        return raw
    raise InvalidRequest(
        f"Invalid value for '{at}.detail': {preview(raw)!r}. Supported values are: "
        "'auto', 'low' and 'high'.",
        param=f"{at}.detail",
    )


def _https_url(url: str, param: str) -> str:
    if len(url) > MAX_URL:
        raise InvalidRequest(f"'{param}' is longer than {MAX_URL} characters.", param=param)
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() != "https" or not parts.hostname:
        raise InvalidRequest(
            f"'{param}' must be an https:// URL or a data: URL "
            f"(data:image/png;base64,...), not {preview(url)!r}.",
            param=param,
        )
    if not url.isprintable() or any(c.isspace() for c in url):
        raise InvalidRequest(f"'{param}' holds white space or control characters.", param=param)
    return url


def _url_type(url: str) -> str:
    path = urlsplit(url).path.lower()
    return next((t for ext, t in _EXTENSIONS.items() if path.endswith(ext)), "")


def _image_type(declared: str, data: bytes, param: str) -> str:
    """The type the image's bytes are. A declared type other than an image is 415; an image
    type no provider takes is 415; bytes that are none of the four formats are 400."""
    if declared and declared not in IMAGE_TYPES:
        raise UnsupportedFileType(
            f"'{param}' is {declared}; images must be PNG, JPEG, GIF or WebP.", param=param
        )
    real = sniff_image(data)
    if real is None:
        raise InvalidRequest(
            f"'{param}' is not a PNG, JPEG, GIF or WebP image (its bytes are none of these).",
            param=param,
        )
    return real  # a mislabelled image/png that is a JPEG is sent as what it is


def sniff_image(data: bytes) -> str | None:
    """The image type `data` starts like, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _file_part(part: Mapping[str, Any], at: str) -> FilePart:
    fields, prefix = (part.get("file"), f"{at}.file") if part["type"] == "file" else (part, at)
    if not isinstance(fields, dict):
        raise InvalidRequest(f"'{prefix}' must be an object.", param=prefix)
    filename = fields.get("filename")
    if filename is not None and (not isinstance(filename, str) or len(filename) > MAX_FILENAME):
        raise InvalidRequest(
            f"'{prefix}.filename' must be a string of at most {MAX_FILENAME} characters.",
            param=f"{prefix}.filename",
        )
    data, file_id = fields.get("file_data"), fields.get("file_id")
    if (data is None) == (file_id is None):
        raise InvalidRequest(
            f"'{prefix}' needs exactly one of 'file_data' (a data: URL or base64) and "
            "'file_id'" + (" ('file_url' is not supported)." if "file_url" in fields else "."),
            param=f"{prefix}.file_data",
        )
    if file_id is not None:
        return FilePart(at, file_id=_file_id(file_id, f"{prefix}.file_id"), filename=filename)
    param = f"{prefix}.file_data"
    if not isinstance(data, str) or not data:
        raise InvalidRequest(f"'{param}' must be a non-empty string.", param=param)
    if data[:5].lower() == "data:":
        media_type, raw = decode_data_url(data, param)
        return FilePart(at, raw, media_type or None, filename=filename)
    return FilePart(at, decode_base64(data, param), filename=filename)


def _file_id(raw: Any, param: str) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > MAX_ID or not raw.isprintable():
        raise InvalidRequest(
            f"'{param}' must be a file id (a non-empty string of at most {MAX_ID} printable "
            "characters).",
            param=param,
        )
    return raw


def decode_data_url(url: str, param: str) -> tuple[str, bytes]:
    """(media type, lower-cased and without parameters; "" if none, and the decoded bytes) of
    a base64 data: URL. Anything else (no comma, not base64, bad base64) is a 400."""
    found = _DATA_URL.match(url)
    if found is None:
        raise InvalidRequest(
            f"'{param}' is not a valid data: URL (expected data:<type>;base64,<data>).",
            param=param,
        )
    params = [p.strip().lower() for p in found.group(2).split(";") if p.strip()]
    if "base64" not in params:
        raise InvalidRequest(
            f"'{param}' must be a base64 data: URL (data:<type>;base64,<data>).", param=param
        )
    return found.group(1).strip().lower(), decode_base64(url[found.end() :], param)


def decode_base64(text: str, param: str) -> bytes:
    """Standard base64; white space (line breaks) is ignored and missing padding added, but any
    other character outside the alphabet is a 400, as is empty data."""
    try:
        raw = _SPACE.sub(b"", text.encode("ascii"))
        raw += b"=" * (-len(raw) % 4)
        data = base64.b64decode(raw, validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise InvalidRequest(f"'{param}' is not valid base64 data.", param=param) from None
    if not data:
        raise InvalidRequest(f"'{param}' holds no data.", param=param)
    return data


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
