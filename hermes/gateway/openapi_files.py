"""The OpenAPI schemas of images and files: the content parts chat and Responses requests carry
(`image_url` / `input_image`, `file` / `input_file`), and /v1/files."""

from __future__ import annotations

from typing import Final

from hermes.gateway.files import MAX_LIST, PURPOSES
from hermes.gateway.openapi_base import NON_EMPTY, STRING, UNIX_TIME, Schema, obj
from hermes.wire.content_parts import DETAILS, MAX_FILENAME, MAX_ID, MAX_URL

_URL: Final[Schema] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_URL,
    "description": "an https:// URL the provider fetches (refused for Ollama), or a base64 "
    "data: URL (data:image/png;base64,…) of a PNG, JPEG, GIF or WebP image up to "
    "api_server.max_image_bytes",
}
_DETAIL: Final[Schema] = {"enum": [*DETAILS, None]}
FILE_ID: Final[Schema] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_ID,
    "description": "the id of a file uploaded to /v1/files by the same API key",
}
_FILE_FIELDS: Final[dict[str, Schema]] = {
    "file_data": {
        **NON_EMPTY,
        "description": "the file as a base64 data: URL (data:application/pdf;base64,…) or "
        "plain base64, up to api_server.max_file_bytes",
    },
    "file_id": FILE_ID,
    "filename": {"type": "string", "maxLength": MAX_FILENAME},
}
_FILE_NOTE: Final = (
    "A text file (plain text, Markdown, CSV, JSON, code, …) or a PDF: its text goes into the "
    "model's context (up to api_server.max_file_chars) and the file is saved in the "
    "workspace under uploads/. Exactly one of `file_data` and `file_id`."
)

IMAGE_PART: Final = obj(
    {
        "type": {"const": "image_url"},
        "image_url": obj({"url": _URL, "detail": _DETAIL}, "url"),
    },
    "type",
    "image_url",
    description="An image, for a model that takes images (model.vision); else 400 "
    "`image_not_supported`.",
)
FILE_PART: Final = obj(
    {"type": {"const": "file"}, "file": obj(_FILE_FIELDS)},
    "type",
    "file",
    description=_FILE_NOTE,
)
INPUT_IMAGE: Final = obj(
    {"type": {"const": "input_image"}, "image_url": _URL, "file_id": FILE_ID, "detail": _DETAIL},
    "type",
    description="An image by URL or by the id of an uploaded image (`image_url` or `file_id`), "
    "for a model that takes images (model.vision); else 400 `image_not_supported`.",
)
INPUT_FILE: Final = obj(
    {"type": {"const": "input_file"}, **_FILE_FIELDS}, "type", description=_FILE_NOTE
)
# Chat parts, then Responses parts: each parser reads both shapes.
IMAGE_AND_FILE_PARTS: Final = (IMAGE_PART, FILE_PART, INPUT_IMAGE, INPUT_FILE)

FILE_OBJECT: Final = obj(
    {
        "id": {**STRING, "description": "`file-…`"},
        "object": {"const": "file"},
        "bytes": {"type": "integer", "minimum": 0},
        "created_at": UNIX_TIME,
        "filename": STRING,
        "purpose": {"enum": list(PURPOSES)},
        "status": {"const": "processed"},
        "status_details": {"type": "null"},
        "expires_at": {"type": "null"},
    },
    "id",
    "object",
    "bytes",
    "created_at",
    "filename",
    "purpose",
)
FILE_LIST: Final = obj(
    {
        "object": {"const": "list"},
        "data": {"type": "array", "items": {"$ref": "#/components/schemas/FileObject"}},
        "has_more": {"type": "boolean"},
        "first_id": {"type": ["string", "null"]},
        "last_id": {"type": ["string", "null"]},
    },
    "object",
    "data",
    "has_more",
)
FILE_DELETED: Final = obj(
    {"id": STRING, "object": {"const": "file"}, "deleted": {"const": True}},
    "id",
    "object",
    "deleted",
)
FILE_UPLOAD: Final = obj(
    {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "a text file, a PDF, or a PNG, JPEG, GIF or WebP image, up to "
            "api_server.max_file_bytes",
        },
        "purpose": {"enum": list(PURPOSES)},
    },
    "file",
    "purpose",
)
LIST_LIMIT: Final[Schema] = {"type": "integer", "minimum": 1, "maximum": MAX_LIST}
LIST_ORDER: Final[Schema] = {"enum": ["asc", "desc"]}

FILE_COMPONENTS: Final[dict[str, Schema]] = {
    "FileObject": FILE_OBJECT,
    "FileList": FILE_LIST,
    "FileDeleted": FILE_DELETED,
    "FileUpload": FILE_UPLOAD,
}
