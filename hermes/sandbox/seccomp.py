"""Two small kernel guards around the keyrings, which no namespace separates well: a session
keyring is inherited by every process a service starts (systemd gives each system service one),
so one profile's command could read or clear what another stored there.

- A seccomp filter (classic BPF, handed to bwrap's --seccomp) makes add_key, request_key and
  keyctl fail with EPERM inside a sandbox, as Flatpak's filter does.
- A gateway joins a session keyring of its own at start (KEYCTL_JOIN_SESSION_KEYRING).

The filter is built here rather than with libseccomp: it is ten instructions, and their
layout is the kernel's ABI (struct sock_filter)."""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

# struct seccomp_data: nr at offset 0, arch at offset 4.
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_X32_BIT = 0x40000000  # x86_64's x32 ABI numbers: refused as a whole (no one uses them)
_RET_K = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000  # SECCOMP_RET_ALLOW
_ERRNO = 0x00050000  # SECCOMP_RET_ERRNO | errno

# (audit arch, add_key, request_key, keyctl) for the architectures hermes is built for.
_ARCHES = {
    "x86_64": (0xC000003E, 248, 249, 250),
    "aarch64": (0xC00000B7, 217, 218, 219),
}
_KEYCTL_JOIN_SESSION_KEYRING = 1


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def keyring_filter() -> bytes | None:
    """The BPF program, or None on an architecture this does not know (then no filter)."""
    numbers = _ARCHES.get(platform.machine())
    if numbers is None:
        return None
    arch, add_key, request_key, keyctl = numbers
    deny = _ERRNO | errno.EPERM
    return b"".join(
        [
            _insn(_LD_W_ABS, 0, 0, 4),  # load arch
            _insn(_JEQ_K, 1, 0, arch),  # our arch: go on; else allow (another ABI)
            _insn(_RET_K, 0, 0, _ALLOW),
            _insn(_LD_W_ABS, 0, 0, 0),  # load the syscall number
            _insn(_JGE_K, 4, 0, _X32_BIT),
            _insn(_JEQ_K, 3, 0, add_key),
            _insn(_JEQ_K, 2, 0, request_key),
            _insn(_JEQ_K, 1, 0, keyctl),
            _insn(_RET_K, 0, 0, _ALLOW),
            _insn(_RET_K, 0, 0, deny),
        ]
    )


def filter_fd() -> int | None:
    """A fresh file holding the filter, for one bwrap (it reads to the end), or None."""
    program = keyring_filter()
    if program is None:
        return None
    fd = os.memfd_create("hermes-seccomp", os.MFD_CLOEXEC)
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def own_session_keyring() -> bool:
    """Join a new, anonymous session keyring: nothing the supervisor, another gateway or a
    service manager keeps in the inherited one is reachable from here on."""
    numbers = _ARCHES.get(platform.machine())
    if numbers is None:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return bool(libc.syscall(numbers[3], _KEYCTL_JOIN_SESSION_KEYRING, None) >= 0)
