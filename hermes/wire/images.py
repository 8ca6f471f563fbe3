"""A message's images in each provider's own wire format, client side. Each wire module calls the
one for its format; the images come before the text (what Anthropic and Google advise, and no
provider minds)."""

from __future__ import annotations

from typing import Any

from hermes.messages import Image, Message

__all__ = ["anthropic_blocks", "data_url", "gemini_parts", "ollama_images", "openai_content"]


def data_url(image: Image) -> str:
    """The image as a URL: its https URL, or a data: URL of its bytes."""
    if image.url is not None:
        return image.url
    return f"data:{image.media_type};base64,{image.data}"


def openai_content(message: Message) -> str | list[dict[str, Any]] | None:
    """Chat Completions `content`: the text as before, or, with images, an array of
    `image_url` parts and a `text` part."""
    if not message.images:
        return message.content
    parts: list[dict[str, Any]] = []
    for image in message.images:
        url: dict[str, Any] = {"url": data_url(image)}
        if image.detail is not None:
            url["detail"] = image.detail
        parts.append({"type": "image_url", "image_url": url})
    if message.content:
        parts.append({"type": "text", "text": message.content})
    return parts


def anthropic_blocks(message: Message) -> list[dict[str, Any]]:
    """Messages API image blocks: a base64 source, or a url source the API fetches."""
    blocks: list[dict[str, Any]] = []
    for image in message.images:
        source: dict[str, Any]
        if image.url is not None:
            source = {"type": "url", "url": image.url}
        else:
            source = {"type": "base64", "media_type": image.media_type, "data": image.data}
        blocks.append({"type": "image", "source": source})
    return blocks


def gemini_parts(message: Message) -> list[dict[str, Any]]:
    """Gemini parts: `inlineData` for bytes, `fileData` (with the type when the URL's name
    says it) for a URL."""
    parts: list[dict[str, Any]] = []
    for image in message.images:
        if image.url is not None:
            file_data: dict[str, Any] = {"fileUri": image.url}
            if image.media_type:
                file_data["mimeType"] = image.media_type
            parts.append({"fileData": file_data})
        else:
            parts.append({"inlineData": {"mimeType": image.media_type, "data": image.data}})
    return parts


def ollama_images(message: Message) -> list[str]:
    """Ollama's `images` of a message: base64 only (the gateway refuses URL images for Ollama
    before the run, so none reach here; one that did would be left out)."""
    return [image.data for image in message.images if image.data is not None]
