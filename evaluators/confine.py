"""Confine the current process with Landlock before it runs a candidate (Linux 5.13+, no privileges).

After `confine(...)` this process and everything it starts can only:
- read and execute the Python installation, the system libraries, a few files of /etc,
  and the one program file it was given;
- read and write one directory (the sandbox's private tmpfs), and /dev/null;
- nothing else of the filesystem: not the problem folder (held-out data, evaluate.py), not
  evaluators/, not the host's home directories or /proc of other processes;
- no TCP connect or bind (Landlock ABI 4+), no signals to processes outside the domain and no
  abstract unix sockets (ABI 6+);
- no System V or POSIX message queues, shared memory or semaphores, no kernel keyrings, no
  ptrace (a seccomp filter): the channels through which one run of a candidate could leave data
  for a later run (an evaluator that runs a candidate twice to catch peeking relies on this).

It is a second wall inside the Docker sandbox and the main one in the process sandbox. Where the
kernel has no Landlock it does nothing and says so (`confine` returns the reason).
"""

from __future__ import annotations

import ctypes
import os
import sys

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # same numbers on x86_64 and arm64
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FILE_RIGHTS_ABI1 = EXECUTE | WRITE_FILE | READ_FILE
TRUNCATE, IOCTL_DEV = 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

READ_ONLY = EXECUTE | READ_FILE | READ_DIR
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/opt")
ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/etc/os-release",
    "/etc/mime.types",
)
READABLE_SYSTEM_INFO = ("/sys/devices/system/cpu", "/proc/cpuinfo", "/proc/meminfo", "/proc/stat")


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI version, 0 where there is none (or a seccomp filter hides it)."""
    if not sys.platform.startswith("linux"):
        return 0
    version = _libc().syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(0, version)


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1  # ABI 1: execute .. make_sym
    if abi >= 2:
        rights |= 1 << 13  # refer
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def _python_dirs() -> set[str]:
    # The installation prefixes hold the standard library and site-packages. sys.path itself is
    # not trusted: an editable install can put a project folder (and its problems/) on it.
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return {os.path.realpath(d) for d in dirs if d and d != "/"}


# Syscalls that let a process leave state behind it or reach into another one, per architecture.
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_DENIED_SYSCALLS = {
    # shm*, sem*, msg*, mq_*, add_key/request_key/keyctl, ptrace, process_vm_readv/writev
    "x86_64": (
        29,
        30,
        31,
        67,
        64,
        65,
        66,
        220,
        68,
        69,
        70,
        71,
        240,
        241,
        242,
        243,
        244,
        245,
        248,
        249,
        250,
        101,
        310,
        311,
    ),
    "aarch64": (
        194,
        195,
        196,
        197,
        190,
        191,
        192,
        193,
        186,
        187,
        188,
        189,
        180,
        181,
        182,
        183,
        184,
        185,
        217,
        218,
        219,
        117,
        270,
        271,
    ),
}
_X32_BIT = 0x40000000  # x86_64's x32 ABI: the same syscalls under other numbers


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def deny_ipc() -> str | None:
    """Install the seccomp filter (needs no_new_privs); returns None, or why it could not."""
    import platform

    machine = platform.machine()
    if machine not in _AUDIT_ARCH:
        return f"no seccomp filter for {machine}"
    ld_abs, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, deny = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
    denied = _DENIED_SYSCALLS[machine]
    n = len(denied) + (1 if machine == "x86_64" else 0)
    program = [
        (ld_abs, 0, 0, 4),  # seccomp_data.arch
        (jeq, 0, n + 1, _AUDIT_ARCH[machine]),  # another ABI (32-bit): leave it to Docker
        (ld_abs, 0, 0, 0),
    ]  # seccomp_data.nr
    checks = [(jge, _X32_BIT)] if machine == "x86_64" else []
    checks += [(jeq, nr) for nr in denied]
    for k, (op, value) in enumerate(checks):
        program.append((op, n - k, 0, value))
    program += [(ret, 0, 0, allow), (ret, 0, 0, deny)]
    filters = (_SockFilter * len(program))(*[_SockFilter(*ins) for ins in program])
    fprog = _SockFprog(len(program), filters)
    if _libc().prctl(22, 2, ctypes.byref(fprog), 0, 0):  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        return f"seccomp filter refused: {os.strerror(ctypes.get_errno())}"
    return None


def confine(program_path: str, writable_dir: str, readable: list[str] | tuple[str, ...] = ()) -> str | None:
    """Apply the ruleset to this process; returns None when confined, else why it is not."""
    abi = abi_version()
    if abi < 1:
        return "Landlock is not available on this kernel"
    libc = _libc()
    handled_fs = _fs_rights(abi)
    file_only = FILE_RIGHTS_ABI1 | (TRUNCATE if abi >= 3 else 0) | (IOCTL_DEV if abi >= 5 else 0)
    attr = _RulesetAttr(
        handled_fs,
        NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0,
        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0,
    )
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"Landlock ruleset refused: {os.strerror(ctypes.get_errno())}"
    try:

        def allow(path: str, rights: int) -> None:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                return  # a path this system does not have
            try:
                if not os.path.isdir(path):
                    rights &= file_only
                rule = _PathBeneathAttr(rights & handled_fs, fd)
                if libc.syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0)):
                    raise OSError(ctypes.get_errno(), f"Landlock rule for {path}")
            finally:
                os.close(fd)

        for path in (*SYSTEM_DIRS, *sorted(_python_dirs()), *ETC_FILES, *READABLE_SYSTEM_INFO, *readable):
            allow(path, READ_ONLY)
        allow(program_path, READ_FILE)
        allow(writable_dir, handled_fs)
        allow("/dev/null", READ_FILE | WRITE_FILE)
        allow("/dev/urandom", READ_FILE)
        allow("/dev/zero", READ_FILE)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):
            return f"no_new_privs refused: {os.strerror(ctypes.get_errno())}"
        if libc.syscall(_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)):
            return f"Landlock restrict_self refused: {os.strerror(ctypes.get_errno())}"
    finally:
        os.close(ruleset)
    return deny_ipc()
