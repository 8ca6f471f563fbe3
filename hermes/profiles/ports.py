"""Is a TCP port free on this machine, and who holds it if not."""

from __future__ import annotations

import contextlib
import errno

FIRST_PORT = 8642


def port_in_use(port: int) -> bool:
    """True if something on this machine listens on `port` (any address, v4 or v6).

    Binding the wildcard address conflicts with a listener on any specific address, and
    SO_REUSEADDR keeps sockets lingering in TIME_WAIT from counting as "in use"."""
    import socket  # lazy: listing profiles never needs it

    for family, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue  # no IPv6 on this host
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((addr, port))
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    return True
                if exc.errno != errno.EADDRNOTAVAIL:
                    raise
    return False


def port_holder(port: int) -> str | None:
    """A short description ("python3 (pid 1234)") of the process listening on `port`, if known."""
    import psutil  # lazy: only on the error path

    try:
        conns = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in conns:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:
                return "another process"
            try:
                return f"{psutil.Process(conn.pid).name()} (pid {conn.pid})"
            except psutil.Error:
                return f"pid {conn.pid}"
    return None


def valid_port(port: int) -> bool:
    return 1 <= port <= 65535
