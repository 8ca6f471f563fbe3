"""One error tree for hermes. Each error knows its HTTP status, its OpenAI error type and code,
and the exit code the CLI uses, so the gateway and the CLI translate errors in one place each."""

from __future__ import annotations

from typing import Any, ClassVar


class HermesError(Exception):
    """Base of every error hermes raises on purpose. The message is safe to show to a user."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    code: ClassVar[str | None] = None
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI error body: {"error": {"message", "type", "param", "code"}}."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(HermesError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"
    exit_code = 2


class NotFound(HermesError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"
    exit_code = 2


class ProfileNotFound(NotFound):
    code = "profile_not_found"


class Conflict(HermesError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"
    exit_code = 1


class ConfigError(HermesError):
    """A profile's config.yaml or .env is invalid, or a requested change to it is."""

    status = 500
    type = "server_error"
    code = "config_error"
    exit_code = 2


class Unauthorized(HermesError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"
    exit_code = 1


class Forbidden(HermesError):
    """Authenticated, but the thing asked for belongs to someone else."""

    status = 403
    type = "permission_error"
    code = "forbidden"
    exit_code = 1


class HostNotAllowed(Forbidden):
    """The Host header names something other than this gateway (DNS rebinding)."""

    code = "host_not_allowed"


class OriginNotAllowed(Forbidden):
    """A web page from an origin not in api_server.cors_origins, on a gateway without a key."""

    code = "origin_not_allowed"


class PayloadTooLarge(HermesError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class UriTooLong(InvalidRequest):
    status = 414
    code = "uri_too_long"


class HeadersTooLarge(InvalidRequest):
    status = 431
    code = "request_header_fields_too_large"


class UnsupportedMediaType(HermesError):
    """A request body that is not JSON: what a web page can send cross-origin without a CORS
    preflight (text/plain, forms, multipart) is refused before it is read. Also a body in a
    content coding the gateway does not decode; `accept_encoding` then lists those it does
    (an Accept-Encoding header, RFC 9110 15.5.16)."""

    status = 415
    type = "invalid_request_error"
    code = "unsupported_media_type"
    exit_code = 2

    def __init__(
        self, message: str, *, param: str | None = None, accept_encoding: str | None = None
    ) -> None:
        super().__init__(message, param=param)
        self.accept_encoding = accept_encoding


class FileTooLarge(PayloadTooLarge):
    """An image or file over its api_server limit (max_image_bytes, max_file_bytes)."""

    code = "file_too_large"


class UnsupportedFileType(UnsupportedMediaType):
    """An image or file of a type hermes cannot pass to the model (it reads text and PDF files,
    and PNG, JPEG, GIF and WebP images)."""

    code = "unsupported_file_type"


class ImageNotSupported(InvalidRequest):
    """A request with an image for a model that does not take images (model.vision)."""

    code = "image_not_supported"


class FileLimitReached(Conflict):
    """The profile's file store holds api_server.max_stored_files files already."""

    code = "file_limit_reached"


class TooManyRequests(HermesError):
    """Rate limited, here or upstream. `retry_after` (seconds) becomes a Retry-After header."""

    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(
        self, message: str, *, param: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, param=param)
        self.retry_after = retry_after


class UpstreamError(HermesError):
    """The model provider failed. `retryable` says whether trying again (or a fallback) may help."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        upstream_status: int | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message, param=param)
        self.retryable = retryable
        self.upstream_status = upstream_status


class UpstreamAuthError(UpstreamError):
    code = "upstream_auth_error"


class UpstreamRateLimited(UpstreamError):
    status = 429
    type = "rate_limit_error"
    code = "upstream_rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, retryable=True, upstream_status=429)
        self.retry_after = retry_after


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"
