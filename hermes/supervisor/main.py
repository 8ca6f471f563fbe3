"""Run the supervisor in the foreground (what `hermes up` and systemd run)."""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import sys
from collections.abc import Sequence

from hermes.errors import Conflict, HermesError
from hermes.procutil import make_undumpable
from hermes.profiles import ProfileStore
from hermes.supervisor.client import ControlClient

LOG_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 5


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Log files are 0600 like the gateways' (they name profiles, ports, errors)."""

    def _open(self) -> io.TextIOWrapper:
        stream = super()._open()
        os.chmod(self.baseFilename, 0o600)
        return stream


def setup_logging(store: ProfileStore, *, foreground: bool) -> None:
    logger = logging.getLogger("hermes")
    logger.setLevel(os.environ.get("HERMES_LOG_LEVEL", "INFO").upper())
    logger.propagate = False
    path = store.home / "logs" / "supervisor.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handlers: list[logging.Handler] = [
        _PrivateRotatingFileHandler(path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS)
    ]
    if foreground:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)


def run(names: Sequence[str] = (), *, foreground: bool = True) -> int:
    """Start the supervisor; returns its exit code. Refuses if one already runs for this home."""
    from hermes.supervisor import sdnotify
    from hermes.supervisor.supervisor import Supervisor, remove_quietly, write_pid

    store = ProfileStore()
    pid_path = store.home / "run" / "supervisor.pid"
    if ControlClient(store.home).running():
        pid = pid_path.read_text().strip() if pid_path.exists() else "?"
        raise Conflict(f"a supervisor is already running for {store.home} (pid {pid})")
    setup_logging(store, foreground=foreground)
    make_undumpable()  # no other process of this user reads the supervisor's memory
    supervisor = Supervisor(store, names, notify=sdnotify.notify)
    write_pid(pid_path)
    try:
        import uvloop

        return uvloop.run(supervisor.run())
    finally:
        remove_quietly(pid_path)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m hermes.supervisor [PROFILE...]`: what `hermes up --detach` starts."""
    args = list(sys.argv[1:] if argv is None else argv)
    foreground = "--background" not in args
    names = [a for a in args if not a.startswith("--")]
    try:
        return run(names, foreground=foreground)
    except HermesError as exc:
        sys.stderr.write(f"hermes up: error: {exc.message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 0
