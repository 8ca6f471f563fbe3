"""Logging set-up for long-running processes (gateway, supervisor): one line per record on
stderr, which the supervisor captures into the profile's rotated logs/gateway.log."""

from __future__ import annotations

import logging
import os
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup(level: str | None = None, *, name: str = "hermes") -> logging.Logger:
    """Configure the root `hermes` logger once; HERMES_LOG_LEVEL (default INFO) sets the level."""
    logger = logging.getLogger(name)
    chosen = (level or os.environ.get("HERMES_LOG_LEVEL") or "INFO").upper()
    logger.setLevel(getattr(logging, chosen, logging.INFO))
    if not any(getattr(h, "_hermes", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        handler._hermes = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    return logger
