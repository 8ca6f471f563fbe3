"""systemd's sd_notify protocol without libsystemd: one datagram of NEWLINE-separated
VARIABLE=value assignments sent to the AF_UNIX socket named by $NOTIFY_SOCKET.

See sd_notify(3). Only Unix sockets are supported (a path, or `@name` in the abstract namespace);
anything else, like a `vsock:` address, is treated as "not under systemd"."""

from __future__ import annotations

import os
import socket
import time

# The receiving end is systemd itself, which drains its socket promptly; the timeout only
# guards against a stuck peer, so a supervisor never hangs on a status update.
SEND_TIMEOUT = 2.0


def notify(*messages: str) -> bool:
    """Send `messages` (e.g. "READY=1", "STATUS=3 gateways running") as one notification.

    Returns True if the datagram was sent, False when not running under a notify-aware service
    manager ($NOTIFY_SOCKET unset or unusable) or on any socket error. Never raises."""
    address = _address(os.environ.get("NOTIFY_SOCKET", ""))
    if address is None or not messages:
        return False
    payload = "\n".join(_with_timestamp(messages)).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(SEND_TIMEOUT)
            sock.sendto(payload, address)
    except OSError:
        return False
    return True


def _address(raw: str) -> str | None:
    if raw.startswith("/"):
        return raw
    if raw.startswith("@") and len(raw) > 1:
        return "\0" + raw[1:]  # Linux abstract namespace
    return None


def _with_timestamp(messages: tuple[str, ...]) -> list[str]:
    """systemd >= 253 wants RELOADING=1 to carry the CLOCK_MONOTONIC time (in µs) at which the
    reload began, so a reload is not mistaken for an earlier one; add it if the caller did not."""
    lines = list(messages)
    if "RELOADING=1" in lines and not any(m.startswith("MONOTONIC_USEC=") for m in lines):
        lines.append(f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")
    return lines
