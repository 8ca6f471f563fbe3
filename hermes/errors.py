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
