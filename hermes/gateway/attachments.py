"""The images and files of a request, made ready for the model before the agent runs.

An image goes on its message (`Message.images`) when the profile's model takes images
(`model.vision`), else the request is 400 `image_not_supported`. A file's text is extracted and
put in its message's text, after what the user wrote, under a line naming the file where it was
saved in the workspace (`uploads/…`) for the tools; text past api_server.max_file_chars is cut
and the model told so. A `file_id` is looked up among the caller's own uploads (404 if it is not
one of them). Limits: images over max_image_bytes and files over max_file_bytes are 413
`file_too_large`; a type hermes cannot read is 415 `unsupported_file_type`."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from hermes.config.limits import FileLimits
from hermes.errors import FileTooLarge, HermesError, ImageNotSupported, InvalidRequest, NotFound
from hermes.gateway import uploads
from hermes.gateway.documents import Extracted, extract_text, media_type
from hermes.gateway.middleware import CALLER
from hermes.messages import Image, Message
from hermes.providers.vision import Vision
from hermes.stores.files import FileRecord, FileStore
from hermes.wire.content_parts import Attachment, FilePart, ImagePart
from hermes.wire.openai_chat_request import ChatRequest
from hermes.wire.openai_responses_request import ResponsesRequest


@dataclass(frozen=True, slots=True)
class Files:
    """What resolving attachments and serving /v1/files need, on the app under FILES."""

    store: FileStore
    limits: FileLimits
    vision: Vision
    workspace: Path


FILES = web.AppKey("files", Files)


async def resolve_chat(request: web.Request, chat: ChatRequest) -> ChatRequest:
    if not chat.attachments:
        return chat
    messages = await attach(request, chat.messages, chat.attachments)
    return dataclasses.replace(chat, messages=messages)


async def resolve_responses(request: web.Request, req: ResponsesRequest) -> ResponsesRequest:
    if not req.attachments:
        return req
    return dataclasses.replace(req, input=await attach(request, req.input, req.attachments))


async def attach(
    request: web.Request, messages: Sequence[Message], attachments: Sequence[Attachment]
) -> tuple[Message, ...]:
    """`messages` with each attachment's image or text on the message it came in."""
    files, caller = request.app[FILES], request[CALLER]
    images: dict[int, list[Image]] = {}
    texts: dict[int, list[str]] = {}
    for a in attachments:
        if messages[a.message].role != "user":
            raise InvalidRequest(
                f"'{a.part.param}': images and files can only be sent in user messages.",
                param=a.part.param,
            )
        try:
            got = await _resolve(files, caller, a.part)
        except HermesError as exc:  # "not a PDF" and the like: name the part it is about
            exc.param = exc.param or a.part.param
            raise
        if isinstance(got, Image):
            images.setdefault(a.message, []).append(got)
        else:
            texts.setdefault(a.message, []).append(got)
    out = list(messages)
    for i in sorted({*images, *texts}):
        m = out[i]
        content = "\n\n".join([*([m.content] if m.content else []), *texts.get(i, [])])
        out[i] = dataclasses.replace(m, content=content, images=(*m.images, *images.get(i, [])))
    return tuple(out)


async def _resolve(files: Files, caller: str, part: ImagePart | FilePart) -> Image | str:
    if isinstance(part, ImagePart):
        return await _image(files, caller, part)
    name: str | None
    if part.file_id is not None:
        record = await _stored(files, caller, part.file_id, part.param)
        data, kind, name = await files.store.content(record), record.media_type, record.filename
    else:
        assert part.data is not None
        _check_size(len(part.data), files.limits.max_file_bytes, "max_file_bytes", part.param)
        data, name = part.data, part.filename
        kind = media_type(data, name, part.media_type)
    if kind.startswith("image/"):  # an image sent as a file: what it is, not text
        _check_vision(files, part.param)
        _check_size(len(data), files.limits.max_image_bytes, "max_image_bytes", part.param)
        return Image(kind, base64.b64encode(data).decode("ascii"))
    return await _file_text(files, data, kind, name)


async def _image(files: Files, caller: str, part: ImagePart) -> Image:
    _check_vision(files, part.param)
    if part.file_id is not None:
        record = await _stored(files, caller, part.file_id, f"{part.param}.file_id")
        if not record.media_type.startswith("image/"):
            raise InvalidRequest(
                f"file {record.id!r} is {record.media_type}, not an image.", param=part.param
            )
        _check_size(record.bytes, files.limits.max_image_bytes, "max_image_bytes", part.param)
        data = base64.b64encode(await files.store.content(record)).decode("ascii")
        return Image(record.media_type, data)
    assert part.image is not None
    if part.image.url is not None and files.vision.inline_only:
        raise InvalidRequest(
            f"'{part.param}': this profile's provider (Ollama) takes images only as their bytes; "
            "send the image as a data: URL (data:image/png;base64,…) instead of a link.",
            param=f"{part.param}.image_url",
        )
    _check_size(part.size, files.limits.max_image_bytes, "max_image_bytes", part.param)
    return part.image


def _check_vision(files: Files, param: str) -> None:
    if not files.vision.images:
        raise ImageNotSupported(
            f"'{param}' is an image, and this profile's model does not take images: "
            f"{files.vision.reason}.",
            param=param,
        )


def _check_size(size: int, limit: int, key: str, param: str) -> None:
    if size > limit:
        raise FileTooLarge(
            f"'{param}' is {size:,} bytes, over the {limit:,} bytes this gateway takes "
            f"(api_server.{key}).",
            param=param,
        )


async def _stored(files: Files, caller: str, file_id: str, param: str) -> FileRecord:
    record = await files.store.get(caller, file_id)
    if record is None:
        raise NotFound(f"No such file: {file_id!r}.", param=param)
    return record


async def _file_text(files: Files, data: bytes, kind: str, filename: str | None) -> str:
    limits = files.limits
    extracted = await asyncio.to_thread(extract_text, data, kind, max_pages=limits.max_pdf_pages)
    path = await asyncio.to_thread(uploads.save, files.workspace, filename, data)
    return describe(path, kind, len(data), extracted, limits.max_file_chars)


def describe(path: str, kind: str, size: int, extracted: Extracted, max_chars: int) -> str:
    """The block the model reads: a header naming the saved file, its text, and a note for
    each limit that cut it."""
    facts = [kind, f"{size:,} bytes"]
    if extracted.pages is not None:
        facts.append(f"{extracted.pages} page" + ("" if extracted.pages == 1 else "s"))
    lines = [f"[file {path} ({', '.join(facts)}), saved in the workspace; its text follows]"]
    text = extracted.text
    lines.append(text[:max_chars])
    if len(text) > max_chars:
        lines.append(
            f"[the text was cut at {max_chars:,} of its {len(text):,} characters "
            f"(api_server.max_file_chars); the whole file is {path}]"
        )
    if extracted.pages is not None and extracted.pages_read != extracted.pages:
        lines.append(
            f"[only the first {extracted.pages_read} of {extracted.pages} pages were read "
            f"(api_server.max_pdf_pages); the whole file is {path}]"
        )
    return "\n".join(lines)
