"""/v1/files: OpenAI's file API, minimal, for clients that upload first and send a `file_id`.

POST takes `multipart/form-data` with `file` and `purpose`; GET lists the caller's files or
gives one, `/content` its bytes; DELETE removes it. Each file is the uploading caller's own
(another API key gets 404), stored under the profile's `state/`."""

from __future__ import annotations

import os
from typing import Final
from urllib.parse import quote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from hermes.errors import FileTooLarge, InvalidRequest, NotFound, UnsupportedMediaType
from hermes.gateway.attachments import FILES
from hermes.gateway.documents import media_type
from hermes.gateway.middleware import CALLER, json_response
from hermes.gateway.uploads import safe_name
from hermes.stores.files import FileRecord

PURPOSES: Final = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
MAX_FIELD: Final = 1024  # bytes of a form field other than `file`
MAX_LIST: Final = 10_000
_CHUNK: Final = 64 * 1024


async def upload_file(request: web.Request) -> web.Response:
    files = request.app[FILES]
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType(
            "uploads must be `Content-Type: multipart/form-data` with `file` and `purpose`"
        )
    data, filename, declared, purpose = await _read_form(request, files.limits.max_file_bytes)
    kind = media_type(data, filename, declared)
    record = await files.store.put(
        "file-" + os.urandom(12).hex(),
        request[CALLER],
        safe_name(filename),
        purpose,
        data,
        kind,
    )
    return json_response(record.to_openai())


async def _read_form(request: web.Request, limit: int) -> tuple[bytes, str, str | None, str]:
    try:
        return await _parse_form(request, limit)
    except (ValueError, AssertionError, HttpProcessingError, RequestPayloadError) as exc:
        # aiohttp's multipart reader raises these on a broken body or a part's bad header.
        reason = getattr(exc, "message", None) or type(exc).__name__
        raise InvalidRequest(f"malformed multipart body: {str(reason)[:200]!r}") from None


async def _parse_form(request: web.Request, limit: int) -> tuple[bytes, str, str | None, str]:
    reader = await request.multipart()
    data: bytes | None = None
    filename, declared, purpose = "", None, None
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise InvalidRequest("nested multipart bodies are not supported")
        again = data if part.name == "file" else purpose if part.name == "purpose" else None
        if again is not None:
            # Which one was meant? Keeping the last would lose the first without a word.
            raise InvalidRequest(
                f"the upload has two '{part.name}' parts; send one", param=part.name
            )
        if part.name == "file":
            data = await _read_capped(part, limit, "file")
            filename, declared = part.filename or "", part.headers.get("Content-Type")
        else:
            value = await _read_capped(part, MAX_FIELD, part.name or "field")
            if part.name == "purpose":
                purpose = value.decode("utf-8", "replace")
    if data is None:
        raise InvalidRequest("Missing required parameter: 'file'.", param="file")
    if purpose is None:
        raise InvalidRequest("Missing required parameter: 'purpose'.", param="purpose")
    if purpose not in PURPOSES:
        raise InvalidRequest(
            f"Invalid value for 'purpose': {purpose[:40]!r}. Supported values are: "
            + ", ".join(f"'{p}'" for p in PURPOSES)
            + ".",
            param="purpose",
        )
    if not data:
        raise InvalidRequest("The uploaded file is empty.", param="file")
    return data, filename, declared, purpose


async def _read_capped(part: BodyPartReader, limit: int, name: str) -> bytes:
    buf = bytearray()
    while chunk := await part.read_chunk(_CHUNK):
        buf += chunk
        if len(buf) > limit:
            if name == "file":
                raise FileTooLarge(
                    f"the file is over the {limit:,} bytes this gateway takes "
                    "(api_server.max_file_bytes).",
                    param="file",
                )
            raise InvalidRequest(f"form field {name[:40]!r} is too long.", param=name[:40])
    return bytes(buf)


async def list_files(request: web.Request) -> web.Response:
    files = request.app[FILES]
    purpose = request.query.get("purpose") or None
    order = request.query.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise InvalidRequest("'order' must be 'asc' or 'desc'.", param="order")
    limit = _limit(request.query.get("limit"))
    records = await files.store.list(request[CALLER], purpose=purpose)
    if order == "asc":
        records.reverse()
    after = request.query.get("after")
    if after:
        ids = [r.id for r in records]
        records = records[ids.index(after) + 1 :] if after in ids else []
    page = records[:limit]
    return json_response(
        {
            "object": "list",
            "data": [r.to_openai() for r in page],
            "has_more": len(records) > limit,
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
        }
    )


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return MAX_LIST
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST:
        raise InvalidRequest(f"'limit' must be a whole number from 1 to {MAX_LIST}.", param="limit")
    return int(raw)


async def get_file(request: web.Request) -> web.Response:
    return json_response((await _record(request)).to_openai())


async def file_content(request: web.Request) -> web.Response:
    record = await _record(request)
    data = await request.app[FILES].store.content(record)
    # Always a download, never rendered: an uploaded .html must not run in a browser here.
    return web.Response(
        body=data,
        content_type="application/octet-stream",
        headers={"Content-Disposition": _disposition(record.filename)},
    )


def _disposition(filename: str) -> str:
    """A download header for a stored (already neutralised) name: ASCII, and RFC 6266's UTF-8
    form when the name has more than ASCII."""
    plain = filename.encode("ascii", "replace").decode().replace("?", "_")
    if plain == filename:
        return f'attachment; filename="{plain}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename)}"


async def delete_file(request: web.Request) -> web.Response:
    file_id = request.match_info["id"]
    if not await request.app[FILES].store.delete(request[CALLER], file_id):
        raise _missing(file_id)
    return json_response({"id": file_id, "object": "file", "deleted": True})


async def _record(request: web.Request) -> FileRecord:
    file_id = request.match_info["id"]
    record = await request.app[FILES].store.get(request[CALLER], file_id)
    if record is None:
        raise _missing(file_id)
    return record


def _missing(file_id: str) -> NotFound:
    return NotFound(f"No such file: {file_id[:300]!r}.", param="id")


def routes(app: web.Application, prefix: str) -> None:
    app.router.add_post(f"{prefix}/files", upload_file)
    app.router.add_get(f"{prefix}/files", list_files)
    app.router.add_get(f"{prefix}/files/{{id}}", get_file)
    app.router.add_get(f"{prefix}/files/{{id}}/content", file_content)
    app.router.add_delete(f"{prefix}/files/{{id}}", delete_file)
