"""Which Host headers a gateway answers: its own names only, against DNS rebinding.

A web page on evil.example can re-point its own name at 127.0.0.1 and then talk to a gateway on
the user's machine as if it were its own server: the browser's same-origin rule sees one origin,
but the requests still say `Host: evil.example`. No client of the gateway sends that, so such a
request is refused.

The gateway's own names are the loopback names (`localhost`, `*.localhost`, 127.0.0.0/8, `::1`),
its bind address, every entry of `api_server.allowed_hosts` (`*` allows any host), and, when it
binds every interface (`0.0.0.0`, `::`), the machine's host name, FQDN and interface addresses.
All of it is computed once per app; a request costs one normalisation and one set lookup."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hermes.gateway.settings import GatewaySettings

WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
ANY_HOST = "*"
_HOST = re.compile(r"[^\s/\\@\[\]?#]+")  # what a URL's host part cannot contain, left out
_SHOWABLE = re.compile(r"[a-z0-9.-]{1,100}|[0-9a-f:.]{2,45}")


def host_of(value: str) -> str | None:
    """The host in a Host header (or an allowed_hosts entry): lower case, without the port, the
    IPv6 brackets or a trailing dot. None when it is not a host at all (a URL, junk)."""
    value = value.strip().lower()
    port = ""
    if value.startswith("["):
        host, bracket, after = value[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            return None
        port = after[1:]
    elif value.count(":") == 1:
        host, _, port = value.partition(":")
    else:  # a bare name, or an IPv6 address without brackets (the supervisor's `Host: ::1`)
        host = value
    if port and not (port.isascii() and port.isdigit()):
        return None
    host = host.removesuffix(".")
    return host if _HOST.fullmatch(host) else None


def machine_names() -> set[str]:
    """This machine's host name, FQDN and interface addresses (IPv6 zone ids cut off)."""
    import psutil

    names = {socket.gethostname(), socket.getfqdn()}
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family in (socket.AF_INET, socket.AF_INET6):
                names.add(address.address.split("%", 1)[0])
    return names


@dataclass(frozen=True, slots=True)
class HostPolicy:
    names: frozenset[str]  # normalised: lower case, no port, no brackets, IPs canonical
    exact: frozenset[str] = frozenset()  # Host headers as clients send them: one lookup
    any_host: bool = False

    @classmethod
    def for_settings(
        cls, settings: GatewaySettings, *, machine: Callable[[], Iterable[str]] = machine_names
    ) -> HostPolicy:
        wanted = [*LOOPBACK_NAMES, settings.host, *settings.allowed_hosts]
        if settings.host.strip("[]") in WILDCARD_BINDS:
            wanted += machine()  # resolved once, here: getfqdn may ask DNS
        names = frozenset(_canonical(host) for host in map(host_of, wanted) if host)
        return cls(names, _as_sent(names, settings.port), ANY_HOST in settings.allowed_hosts)

    def allows(self, header: str) -> bool:
        if self.any_host or header in self.exact:
            return True
        host = host_of(header)
        if host is None:
            return False
        return host in self.names or _loopback_or_known_ip(host, self.names)


def _as_sent(names: frozenset[str], port: int) -> frozenset[str]:
    """`127.0.0.1:8642`, `[::1]:8642`, `localhost`: the common headers, matched as they come."""
    hosts = [f"[{name}]" if ":" in name else name for name in names]
    return frozenset([*hosts, *(f"{host}:{port}" for host in hosts)])


def shown(header: str) -> str:
    """The Host header as an error message may repeat it: a plain name or address, else nothing."""
    host = host_of(header) or ""
    return repr(host) if _SHOWABLE.fullmatch(host) else "of this request"


def _canonical(host: str) -> str:
    """An IP address in its one spelling (`0:0::1` is `::1`); names as they are."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def _loopback_or_known_ip(host: str, names: frozenset[str]) -> bool:
    """The slow path, only for a host not found as written: `*.localhost` (browsers resolve it
    to loopback themselves), any address in 127.0.0.0/8, another spelling of a known address."""
    if host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or str(ip) in names
