"""The front door's live settings from hermes.yaml: `frontdoor.users` and
`frontdoor.identity_header` apply from the next second on, without a restart (its host and
port need one: `hermes reload` restarts the front door when they change)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hermes.config.home import FrontdoorConfig, load_home, path_of
from hermes.errors import HermesError
from hermes.frontdoor.identity import identity_headers

log = logging.getLogger("hermes.frontdoor")


@dataclass(frozen=True, slots=True)
class Live:
    users: Mapping[str, Sequence[str]] = field(default_factory=dict)
    identity_header: str | None = None
    strip: tuple[str, ...] = identity_headers(None)  # never passed on, whatever the key

    @classmethod
    def of(cls, config: FrontdoorConfig) -> Live:
        header = config.identity_header
        return cls(dict(config.users), header, identity_headers(header))


class SettingsWatch:
    """`current` is hermes.yaml's frontdoor section as last read; `refresh` reads it again
    when the file changed. A broken edit keeps the last good settings (and says so once)."""

    def __init__(self, home: Path) -> None:
        self.path = path_of(home)
        self.home = home
        self._stamp: object = None
        self.current = Live()
        self.refresh()

    def refresh(self) -> None:
        try:
            st = os.stat(self.path)
            stamp: object = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = None
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self.current = Live.of(load_home(self.home).frontdoor)
        except (HermesError, OSError) as exc:
            log.error("%s: keeping the previous front door settings: %s", self.path, exc)
