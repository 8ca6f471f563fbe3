"""The front door's own credential to each gateway, and the gateway's check of it.

The front door holds one random secret ($HERMES_HOME/frontdoor/secret, 0600). Its credential
to profile P is `hfd_` + HMAC-SHA256(secret, P): a different one per profile, so a gateway that
learnt its own could not use it on another. The front door writes the SHA-256 of P's credential
to P's `state/frontdoor.sha256` (0600) before it first proxies there; the gateway, which sees
only its own profile when confined, compares a presented `hfd_…` against that file. Neither the
secret nor a credential ever reaches a gateway's environment, argv or workspace, and a tool's
sandbox sees only the workspace, so no tool can read either (README, Security).

A request carrying this credential is the front door's: only such a request may name the user
it speaks for (gateway/identity.py)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from hermes.fsutil import atomic_write
from hermes.profiles.paths import Profile

PREFIX = "hfd_"
DIGEST_FILE = "frontdoor.sha256"
SECRET_FILE = "secret"


def secret_path(home: Path) -> Path:
    return home / "frontdoor" / SECRET_FILE


def load_secret(home: Path) -> bytes:
    """The front door's secret, made on first use. Created with O_EXCL, so two front doors
    starting at once agree on one (the loser reads the winner's)."""
    path = secret_path(home)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    secret = path.read_text(encoding="ascii").strip()
    if len(secret) < 32:
        raise ValueError(f"{path} is truncated; delete it and restart the front door")
    return secret.encode()


def credential_for(secret: bytes, profile: str) -> str:
    return PREFIX + hmac.new(secret, profile.encode(), hashlib.sha256).hexdigest()


def publish(profile: Profile, credential: str) -> None:
    """Tell `profile`'s gateway which credential is the front door's (only its digest)."""
    path = profile.state_dir / DIGEST_FILE
    wanted = hashlib.sha256(credential.encode()).hexdigest()
    try:
        if path.read_text(encoding="ascii").strip() == wanted:
            return
    except (OSError, UnicodeDecodeError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, wanted + "\n", mode=0o600)


class FrontdoorCheck:
    """The gateway's side: is a presented key the front door's credential for this profile?
    The digest file is re-read only when its stat changes (one stat() per front-door call)."""

    def __init__(self, profile: Profile) -> None:
        self.path = str(profile.state_dir / DIGEST_FILE)
        self._stat: tuple[int, int, int] | None = None
        self._digest = ""

    def check(self, presented: str) -> bool:
        if not presented.startswith(PREFIX):
            return False
        digest = self._current()
        offered = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).hexdigest()
        return bool(digest) and hmac.compare_digest(offered, digest)

    def _current(self) -> str:
        try:
            st = os.stat(self.path)
        except OSError:
            self._stat, self._digest = None, ""
            return ""
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if key != self._stat:
            try:
                with open(self.path, encoding="ascii") as fh:
                    self._digest = fh.read().strip()
            except (OSError, UnicodeDecodeError):
                self._digest = ""
            self._stat = key
        return self._digest
