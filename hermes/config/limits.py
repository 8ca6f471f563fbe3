"""The limits on images and files a gateway takes, resolved once from `api_server` (with its
API_SERVER_* overrides applied) like every other gateway setting."""

from __future__ import annotations

from dataclasses import dataclass

from hermes.config.schema import ApiServerConfig

_DEFAULTS = ApiServerConfig()


@dataclass(frozen=True, slots=True)
class FileLimits:
    max_image_bytes: int = _DEFAULTS.max_image_bytes
    max_file_bytes: int = _DEFAULTS.max_file_bytes
    max_file_chars: int = _DEFAULTS.max_file_chars
    max_pdf_pages: int = _DEFAULTS.max_pdf_pages
    max_stored_files: int = _DEFAULTS.max_stored_files

    @classmethod
    def of(cls, api: ApiServerConfig) -> FileLimits:
        return cls(
            max_image_bytes=api.max_image_bytes,
            max_file_bytes=api.max_file_bytes,
            max_file_chars=api.max_file_chars,
            max_pdf_pages=api.max_pdf_pages,
            max_stored_files=api.max_stored_files,
        )
