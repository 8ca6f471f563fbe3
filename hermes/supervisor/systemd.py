"""systemd units for production: `hermes.service` runs the supervisor (`hermes up`, which also
runs the front door when hermes.yaml enables it), the template `hermes-gateway@.service` runs one
profile's gateway without it (`%i` = the profile), and `hermes-frontdoor.service` the front door
without it (for gateways run by their own units).

Rendering is pure; `install` is the only function that touches the disk."""

from __future__ import annotations

import os
import pwd
import re
import sys
from pathlib import Path
from typing import Literal

from hermes.errors import HermesError, InvalidRequest
from hermes.fsutil import atomic_write

Scope = Literal["user", "system"]

SUPERVISOR_UNIT = "hermes.service"
GATEWAY_UNIT = "hermes-gateway@.service"
FRONTDOOR_UNIT = "hermes-frontdoor.service"
UNIT_MODE = 0o644

# Characters that need no quoting in a unit file word; anything else is double-quoted.
_PLAIN = re.compile(r"[\w/.,:+@=~-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\$?")

Section = list[tuple[str, str]]


class UnitInstallError(HermesError):
    """A unit file could not be written (typically: no permission on the unit directory)."""

    code = "unit_install_error"
    exit_code = 1


def supervisor_unit(
    *, scope: Scope, home: Path, python: str = sys.executable, user: str | None = None
) -> str:
    """`hermes.service`: the supervisor, which tells systemd when every gateway is up
    (Type=notify) and reloads on SIGHUP."""
    service: Section = [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        ("ExecStart", _command(python, "-m", "hermes", "up")),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("Restart", "on-failure"),
        ("RestartSec", "2"),
        # SIGTERM to the supervisor only: it stops its gateways in order; whatever is left
        # after TimeoutStopSec gets SIGKILL.
        ("KillMode", "mixed"),
        ("TimeoutStopSec", "30"),
        ("SyslogIdentifier", "hermes"),
        *_environment(scope, home, user),
    ]
    description = "hermes supervisor: one gateway per enabled profile"
    return _render(scope, description, service)


def gateway_unit(
    *, scope: Scope, home: Path, python: str = sys.executable, user: str | None = None
) -> str:
    """`hermes-gateway@.service`: one profile's gateway, for running a single profile without
    the supervisor (`systemctl enable --now hermes-gateway@alice.service`)."""
    service: Section = [
        ("Type", "simple"),
        # %i, not %I: unescaping would turn the '-' of a profile name like my-bot into '/'.
        ("ExecStart", _command(python, "-m", "hermes.gateway", "--profile") + " %i"),
        ("Restart", "on-failure"),
        ("RestartSec", "2"),
        ("TimeoutStopSec", "30"),
        ("SyslogIdentifier", "hermes-%i"),
        *_environment(scope, home, user),
    ]
    return _render(scope, "hermes gateway for profile %i", service)


def frontdoor_unit(
    *, scope: Scope, home: Path, python: str = sys.executable, user: str | None = None
) -> str:
    """`hermes-frontdoor.service`: the front door alone, on frontdoor.host / frontdoor.port,
    for gateways run without the supervisor (it then finds them by their /health). Under
    `hermes.service` it is not needed: the supervisor runs the front door itself."""
    service: Section = [
        ("Type", "simple"),
        ("ExecStart", _command(python, "-P", "-m", "hermes.frontdoor")),
        ("Restart", "on-failure"),
        ("RestartSec", "2"),
        ("TimeoutStopSec", "30"),
        ("SyslogIdentifier", "hermes-frontdoor"),
        *_environment(scope, home, user),
    ]
    return _render(scope, "hermes front door: every profile behind one URL", service)


def unit_dir(scope: Scope) -> Path:
    """Where the administrator's units go: $XDG_CONFIG_HOME/systemd/user (default
    ~/.config/systemd/user) or /etc/systemd/system."""
    if scope == "system":
        return Path("/etc/systemd/system")
    config = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(config) if os.path.isabs(config) else Path.home() / ".config"
    return base / "systemd" / "user"


def install(
    scope: Scope,
    home: Path,
    *,
    python: str = sys.executable,
    user: str | None = None,
    directory: Path | None = None,
) -> list[Path]:
    """Write the three units (atomically, mode 0644) into `directory` (default `unit_dir(scope)`);
    returns their paths. Raises UnitInstallError with a one-line reason on failure."""
    target = directory if directory is not None else unit_dir(scope)
    units = {
        name: render(scope=scope, home=home, python=python, user=user)
        for name, render in (
            (SUPERVISOR_UNIT, supervisor_unit),
            (GATEWAY_UNIT, gateway_unit),
            (FRONTDOOR_UNIT, frontdoor_unit),
        )
    }
    written: list[Path] = []
    for name, text in units.items():
        path = target / name
        try:
            target.mkdir(parents=True, exist_ok=True)
            atomic_write(path, text, mode=UNIT_MODE)
        except OSError as exc:
            raise UnitInstallError(_write_failure(scope, path, exc)) from exc
        written.append(path)
    return written


def next_steps(scope: Scope, *, user: str | None = None) -> list[str]:
    """The commands to run after `install` to start hermes now and at every boot."""
    flag = " --user" if scope == "user" else ""
    steps = [
        f"systemctl{flag} daemon-reload",
        f"systemctl{flag} enable --now {SUPERVISOR_UNIT}",
        f"journalctl{flag} -u hermes -f",
    ]
    if scope == "user":
        # Without lingering, the user's manager (and hermes) stops at logout and does not start
        # at boot.
        steps.append(f"loginctl enable-linger {user or current_user()}")
    return steps


def current_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid with no passwd entry (some containers)
        return str(os.geteuid())


def _render(scope: Scope, description: str, service: Section) -> str:
    unit: Section = [("Description", description)]
    if scope == "system":
        # The user manager has no network-online.target: there, this would be a dangling no-op.
        unit += [("After", "network-online.target"), ("Wants", "network-online.target")]
    wanted_by = "multi-user.target" if scope == "system" else "default.target"
    sections = {"Unit": unit, "Service": service, "Install": [("WantedBy", wanted_by)]}
    blocks = [
        "\n".join([f"[{name}]", *(f"{key}={value}" for key, value in entries)])
        for name, entries in sections.items()
    ]
    return "# Written by `hermes systemd install`.\n\n" + "\n\n".join(blocks) + "\n"


def _environment(scope: Scope, home: Path, user: str | None) -> Section:
    """The environment, identity and sandbox both units share."""
    if not home.is_absolute():
        raise InvalidRequest(f"HERMES_HOME must be an absolute path, not {str(home)!r}")
    entries: Section = [
        ("Environment", _word(f"HERMES_HOME={home}")),
        ("Environment", "PYTHONUNBUFFERED=1"),
    ]
    if scope == "system":
        entries += _identity(user or current_user())
    return [
        *entries,
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        # Everything read-only but HERMES_HOME (profiles, workspaces, logs, the control socket).
        ("ProtectSystem", "strict"),
        ("ProtectHome", "no"),  # HERMES_HOME is usually under /home
        ("ReadWritePaths", _word(str(home))),
    ]


def _identity(user: str) -> Section:
    if not _USER.fullmatch(user):
        raise InvalidRequest(f"invalid user name {user!r}", param="user")
    entries: Section = [("User", user)]
    try:
        import grp

        gid = pwd.getpwnam(user).pw_gid
        entries.append(("Group", grp.getgrgid(gid).gr_name))
    except KeyError:  # not a local account (or a numeric uid): systemd picks its group
        pass
    return entries


def _command(python: str, *args: str) -> str:
    if not python:
        raise InvalidRequest("cannot tell which Python runs hermes (sys.executable is empty)")
    # Absolute but not resolved: a venv's bin/python is a symlink to the base interpreter, and
    # only the unresolved path makes Python pick up the venv (and so this hermes).
    return " ".join([_word(os.path.abspath(python), dollar=True), *args])


def _word(text: str, *, dollar: bool = False) -> str:
    """`text` as one word of a unit file value: specifiers (%) and, in commands, variables ($)
    escaped; double-quoted when it has spaces or quoting characters."""
    if _CONTROL.search(text):
        raise InvalidRequest(f"{text!r} contains a control character, which systemd cannot use")
    escaped = text.replace("%", "%%")
    if dollar:
        escaped = escaped.replace("$", "$$")
    if _PLAIN.fullmatch(text.replace("%", "").replace("$", "") or "x"):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _write_failure(scope: Scope, path: Path, exc: OSError) -> str:
    reason = (exc.strerror or str(exc)).lower()
    message = f"cannot write {path}: {reason}"
    if isinstance(exc, PermissionError) and scope == "system":
        message += "; use --user or run as root"
    return message
