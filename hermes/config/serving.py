"""How a gateway's bind address becomes the address and URL its clients use: one spelling for
`profile list/show`, `hermes status`, the supervisor's log and health checks, and the gateway's
own ready line. An address that listens everywhere is reached on loopback; an IPv6 address is
written in brackets (`http://[::1]:8642/v1`)."""

from __future__ import annotations

ANY_IPV4 = ("0.0.0.0", "")
ANY_IPV6 = ("::", "[::]")


def reach_host(host: str) -> str:
    """Where a client on this machine reaches a server bound to `host`."""
    if host in ANY_IPV4:
        return "127.0.0.1"
    if host in ANY_IPV6:
        return "::1"
    return host.strip("[]")


def health_host(host: str) -> str:
    """Where the supervisor probes a gateway: as `reach_host`, and `localhost` as 127.0.0.1 (a
    name may resolve to ::1 first while the gateway listens on IPv4 only)."""
    return "127.0.0.1" if host == "localhost" else reach_host(host)


def url_host(host: str) -> str:
    """`host` as it goes into a URL's authority: IPv6 addresses in brackets."""
    bare = host.strip("[]")
    return f"[{bare}]" if ":" in bare else bare


def base_url(host: str, port: int) -> str:
    """The OpenAI base URL clients use for a gateway bound to `host`:`port`."""
    return f"http://{url_host(reach_host(host))}:{port}/v1"
