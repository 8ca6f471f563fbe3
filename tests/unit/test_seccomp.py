"""The keyring guards: the seccomp program's layout, and a gateway's own session keyring."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from hermes.sandbox.seccomp import _ARCHES, keyring_filter


def test_the_filter_is_whole_instructions_ending_in_returns() -> None:
    program = keyring_filter()
    if platform.machine() not in _ARCHES:
        assert program is None
        return
    assert program is not None and len(program) % 8 == 0 and len(program) // 8 == 10
    last_two = [program[i : i + 2] for i in (len(program) - 16, len(program) - 8)]
    assert all(code == b"\x06\x00" for code in last_two)  # BPF_RET | BPF_K


@pytest.mark.skipif(platform.machine() not in _ARCHES, reason="no keyctl number here")
def test_a_gateway_gets_a_session_keyring_of_its_own() -> None:
    """Before: the session keyring this test runs in; after joining: another one, so a key a
    service manager or another gateway put in the inherited keyring is out of reach."""
    code = """
import ctypes
from hermes.sandbox.seccomp import _ARCHES, own_session_keyring
import platform
libc = ctypes.CDLL(None, use_errno=True)
keyctl = _ARCHES[platform.machine()][3]
def session():  # KEYCTL_GET_KEYRING_ID (0) of KEY_SPEC_SESSION_KEYRING (-3), creating it
    return libc.syscall(keyctl, 0, -3, 1)
before = session()
assert own_session_keyring()
print(before != session() and session() > 0)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
