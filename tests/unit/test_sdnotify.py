"""sd_notify without libsystemd: a real datagram socket stands in for systemd."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hermes.supervisor.sdnotify import notify


@pytest.fixture
def receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket bound to a path, named by $NOTIFY_SOCKET."""
    path = tmp_path / "n.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def test_sends_one_datagram_to_a_path_socket(receiver: socket.socket) -> None:
    assert notify("READY=1", "STATUS=2 gateways running") is True
    assert receiver.recv(4096) == b"READY=1\nSTATUS=2 gateways running"


def test_each_call_is_one_datagram(receiver: socket.socket) -> None:
    assert notify("STOPPING=1")
    assert notify("STATUS=stopping")
    assert receiver.recv(4096) == b"STOPPING=1"
    assert receiver.recv(4096) == b"STATUS=stopping"


def test_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"hermes-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify("READY=1", "STATUS=ok") is True
        assert sock.recv(4096) == b"READY=1\nSTATUS=ok"


def test_reloading_carries_the_monotonic_time(receiver: socket.socket) -> None:
    assert notify("RELOADING=1")
    lines = receiver.recv(4096).decode().split("\n")
    assert lines[0] == "RELOADING=1"
    assert lines[1].startswith("MONOTONIC_USEC=") and int(lines[1].split("=")[1]) > 0
    assert notify("RELOADING=1", "MONOTONIC_USEC=42")
    assert receiver.recv(4096) == b"RELOADING=1\nMONOTONIC_USEC=42"


def test_not_under_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False


@pytest.mark.parametrize("value", ["", "@", "relative/path", "vsock:2:1234"])
def test_unusable_addresses_are_ignored(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", value)
    assert notify("READY=1") is False


def test_socket_errors_return_false(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens.sock"))
    assert notify("READY=1") is False
    stale = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(stale))
    monkeypatch.setenv("NOTIFY_SOCKET", str(stale))  # bound once, now closed
    assert notify("READY=1") is False


def test_nothing_to_send(receiver: socket.socket) -> None:
    assert notify() is False
