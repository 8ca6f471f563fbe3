"""A Landlock domain for a gateway process: no signal to, and no abstract Unix socket of, any
process outside it (Landlock ABI 6, Linux 6.12), and no ptrace of such a process (every ABI).

It handles no file-system access on purpose: a domain that does forbids mount(2), and the
gateway must still be able to make its tools' bubblewrap sandboxes. The gateway's files are
confined by its own mount namespace instead (confine.py). Everything the gateway starts
inherits the domain, so its tools can signal their own processes and nothing else."""

from __future__ import annotations

import ctypes
import os
import platform

SYS_CREATE_RULESET = 444  # the same number on every architecture (new syscall table)
SYS_RESTRICT_SELF = 446
CREATE_RULESET_VERSION = 1 << 0
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1
PR_SET_NO_NEW_PRIVS = 38


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi() -> int:
    """The kernel's Landlock ABI version; 0 if Landlock is unavailable."""
    if platform.system() != "Linux":
        return 0
    version = _libc().syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), CREATE_RULESET_VERSION)
    return max(0, int(version))


def restrict_scopes() -> str:
    """Enter the domain; returns what now holds, for the log and `hermes status`."""
    version = abi()
    if version < 6:
        return f"not scoped (Landlock ABI {version}; signal scoping needs 6, Linux 6.12)"
    libc = _libc()
    attr = _RulesetAttr(0, 0, SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL)
    fd = libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0)
    if fd < 0:
        return f"not scoped (landlock_create_ruleset: {os.strerror(ctypes.get_errno())})"
    try:
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return f"not scoped (no_new_privs: {os.strerror(ctypes.get_errno())})"
        if libc.syscall(SYS_RESTRICT_SELF, fd, 0) != 0:
            return f"not scoped (landlock_restrict_self: {os.strerror(ctypes.get_errno())})"
    finally:
        os.close(fd)
    return f"scoped (Landlock ABI {version}: signals, abstract sockets, ptrace)"
