"""What each provider's API refuses in the images of a request, as the fakes check it: the same
rules the real services document, so a test with an image fails at the fake (a 400 in the
provider's own error shape) when hermes sends a wrong shape, not only at an assertion."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
_DATA_URL = re.compile(r"data:(image/[a-z]+);base64,(.+)", re.DOTALL)


def _b64(text: Any) -> bool:
    if not isinstance(text, str) or not text:
        return False
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def openai_problem(body: dict[str, Any]) -> str | None:
    """Chat Completions: a content array of `text` and `image_url` parts; an image URL is https
    or a base64 data: URL of a PNG, JPEG, GIF or WebP."""
    for n, message in enumerate(body.get("messages") or []):
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for k, part in enumerate(content):
            where = f"messages[{n}].content[{k}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                continue
            if kind != "image_url" or message.get("role") != "user":
                return f"Invalid content part at {where}"
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else None
            detail = image.get("detail", "auto") if isinstance(image, dict) else None
            if not isinstance(url, str) or detail not in ("auto", "low", "high"):
                return f"Invalid image_url at {where}"
            found = _DATA_URL.fullmatch(url)
            if not url.startswith("https://") and not (
                found and found.group(1) in TYPES and _b64(found.group(2))
            ):
                return f"Invalid image URL at {where}: expected https or a base64 data URL"
    return None


def anthropic_problem(block: dict[str, Any], where: str) -> str | None:
    """An `image` block: a base64 source with its media_type, or a url source."""
    source = block.get("source")
    if not isinstance(source, dict):
        return f"{where}.source: Field required"
    if source.get("type") == "base64":
        if source.get("media_type") not in TYPES:
            return f"{where}.source.media_type: Input should be {', '.join(TYPES)}"
        if not _b64(source.get("data")):
            return f"{where}.source.data: invalid base64 data"
        return None
    if source.get("type") == "url" and str(source.get("url", "")).startswith("https://"):
        return None
    return f"{where}.source: Input tag {source.get('type')!r} does not match 'base64' or 'url'"


def gemini_problem(body: dict[str, Any]) -> str | None:
    """Parts: text, functionCall / functionResponse, inlineData {mimeType, data} (base64) or
    fileData {fileUri, mimeType?}; snake_case spellings too, as the API takes them."""
    for n, content in enumerate(body.get("contents") or []):
        for k, part in enumerate(content.get("parts") or []):
            where = f"contents[{n}].parts[{k}]"
            inline = part.get("inlineData", part.get("inline_data"))
            if inline is not None:
                mime = inline.get("mimeType", inline.get("mime_type"))
                if mime not in TYPES or not _b64(inline.get("data")):
                    return f"Invalid value at '{where}.inline_data'"
            file_data = part.get("fileData", part.get("file_data"))
            if file_data is not None and not str(
                file_data.get("fileUri", file_data.get("file_uri", ""))
            ).startswith("https://"):
                return f"Invalid value at '{where}.file_data.file_uri'"
    return None


def ollama_problem(body: dict[str, Any]) -> str | None:
    """A message's `images`: a list of plain base64 strings (a data: URL prefix is refused)."""
    for message in body.get("messages") or []:
        images = message.get("images")
        if images is None:
            continue
        if not isinstance(images, list) or not all(_b64(i) for i in images):
            return "illegal base64 data at input byte 4"
    return None
