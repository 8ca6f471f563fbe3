"""SSRF protection for web_fetch: which addresses a model-chosen URL may reach, checked after DNS.

An address policy is a plain function: it gets an IP address and returns why it is refused, or None
when it is allowed. `public_only` is the default. A different policy is the seam tests (or a
deployment) use, e.g. to treat one loopback address as "public".

`GuardedResolver` is the aiohttp resolver that applies the policy: it resolves a host with
`loop.getaddrinfo` (aiohttp's ThreadedResolver), refuses the host if ANY address it resolves to is
refused, and otherwise hands exactly those vetted addresses to the connector, which connects to
them. There is no second lookup between the check and the connection, so a DNS rebinding cannot
switch the address. aiohttp never asks a resolver about IP literals, so `check_host` vets those
before each request.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = IPv4Address | IPv6Address
AddressPolicy = Callable[[IPAddress], str | None]

ALLOW_HINT = "set tools.web_fetch.allow_private: true to allow"

_METADATA = frozenset({ip_address("169.254.169.254"), ip_address("fd00:ec2::254")})
_CGNAT = ip_network("100.64.0.0/10")
_NAT64 = ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), which is where a
    connection to it really goes."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def public_only(ip: IPAddress) -> str | None:
    """Why `ip` is not a public internet address, or None when it is one."""
    if isinstance(ip, IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return public_only(inner)
    if ip in _METADATA:
        return "cloud metadata address"
    checks = (
        (ip.is_unspecified, "unspecified address"),
        (ip.is_loopback, "loopback address"),
        (ip.is_link_local, "link-local address"),
        (ip in _CGNAT, "carrier-grade NAT address"),
        (ip.is_multicast, "multicast address"),
        (ip.is_reserved, "reserved address"),
        (ip.is_private, "private address"),
        (not ip.is_global, "non-public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


class BlockedAddress(OSError):
    """A host resolved to an address the policy refuses. An OSError, so that aiohttp wraps it in
    ClientConnectorDNSError (as `os_error`) like any other resolution failure."""

    def __init__(self, host: str, ip: IPAddress, reason: str) -> None:
        self.host = host
        self.ip = ip
        self.reason = reason
        same = str(ip) == host.strip("[]")
        self.detail = reason if same else f"{host} resolves to {ip}, a {reason}"
        super().__init__(self.detail)


def literal_ip(host: str) -> IPAddress | None:
    """The address `host` spells, including legacy IPv4 forms such as `127.1` or `2130706433`
    that the socket layer would accept; None for a name."""
    bare = host.strip("[]")
    try:
        return ip_address(bare.split("%", 1)[0])
    except ValueError:
        pass
    try:
        return IPv4Address(socket.inet_aton(bare))
    except OSError:
        return None


def check_host(host: str, policy: AddressPolicy) -> None:
    """Raise BlockedAddress when `host` is an IP literal the policy refuses. Names are left to
    GuardedResolver, which sees what they resolve to."""
    ip = literal_ip(host)
    if ip is not None:
        reason = policy(ip)
        if reason is not None:
            raise BlockedAddress(host, ip, reason)


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then refuses the host if any address is refused.

    `inner` is the resolver wrapped (default: ThreadedResolver, i.e. `loop.getaddrinfo`)."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            ip = ip_address(result["host"].split("%", 1)[0])
            reason = self._policy(ip)
            if reason is not None:
                raise BlockedAddress(host, ip, reason)
        return results

    async def close(self) -> None:
        await self._inner.close()
