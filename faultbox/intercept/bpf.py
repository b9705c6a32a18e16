"""The classic-BPF seccomp program: notify the listed syscalls, allow everything else.

Layout (every jump is short and local, so any number of syscalls fits the 8-bit offsets)::

    ld  arch ; jeq AUDIT_ARCH → +1 ; ret ALLOW      # other ABIs (i386 compat) pass untouched
    ld  nr
    jge X32_BIT → +0 : +1 ; ret ERRNO(ENOSYS)        # x86_64 only: the x32 ABI (below)
    jeq NR_a, 0, 1 ; ret USER_NOTIF                  # one pair per notified syscall
    jeq NR_w, 0, 8 ; <hand-off exemption> ; ...      # write/read: see below
    ret ALLOW

Hand-off exemption (pitfall 1: the launcher must not block on its own listener): a ``write``
of exactly :data:`RECORD_LEN` bytes and a ``read`` of exactly :data:`ACK_READ_LEN` bytes on the
hand-off fd are allowed without a notification. The fd is a high number and the lengths are
unusual, so the target's own I/O practically never matches the exemption after ``exec``.

x32: on x86_64, x32 syscalls arrive with the x86_64 audit arch and ``nr | __X32_SYSCALL_BIT``
(x32 ``write`` is ``0x40000001``), so an exact ``jeq`` on the x86_64 numbers would let
``syscall(0x40000001, ...)`` write past every fault rule. Every number at or above the bit
gets ENOSYS instead — what kernels without x32 support (most distributions' default) answer
anyway; faultbox never sees them, so no decision is lost.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterable

# struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; }
_INSN = struct.Struct("<HBBI")
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06

SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_RET_ERRNO = 0x00050000
AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000


# offsets in struct seccomp_data (little-endian on both supported architectures)
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0_LO = 16
_OFF_ARG0_HI = 20
_OFF_ARG2_LO = 32

#: Every launcher → faultbox record is exactly this many bytes (NUL padded).
RECORD_LEN = 128
#: The launcher reads the 1-byte ACK with this (odd) count.
ACK_READ_LEN = 61
MAX_INSNS = 4096  # BPF_MAXINSNS


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return _INSN.pack(code, jt, jf, k & 0xFFFFFFFF)


def build_filter(
    numbers: Iterable[int],
    audit_arch: int,
    handoff_fd: int = -1,
    exempt: dict[int, int] | None = None,
) -> bytes:
    """Return the program as packed ``sock_filter`` instructions.

    ``numbers``: syscall numbers to notify. ``exempt``: syscall number → the exact count
    (``args[2]``) for which a call on ``handoff_fd`` (``args[0]``) is allowed instead.
    """
    exempt = exempt or {}
    out = [
        _insn(_LD_W_ABS, 0, 0, _OFF_ARCH),
        _insn(_JEQ_K, 1, 0, audit_arch),
        _insn(_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        _insn(_LD_W_ABS, 0, 0, _OFF_NR),
    ]
    if audit_arch == AUDIT_ARCH_X86_64:  # x32 numbers must not slip past the jeq's below
        out += [
            _insn(_JGE_K, 0, 1, X32_SYSCALL_BIT),
            _insn(_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.ENOSYS),
        ]
    for nr in sorted(set(numbers)):
        count = exempt.get(nr)
        if count is None or handoff_fd < 0:
            out += [_insn(_JEQ_K, 0, 1, nr), _insn(_RET_K, 0, 0, SECCOMP_RET_USER_NOTIF)]
            continue
        out += [
            _insn(_JEQ_K, 0, 8, nr),  # not this syscall: skip the block, A still holds nr
            _insn(_LD_W_ABS, 0, 0, _OFF_ARG0_LO),
            _insn(_JEQ_K, 0, 5, handoff_fd),
            _insn(_LD_W_ABS, 0, 0, _OFF_ARG0_HI),
            _insn(_JEQ_K, 0, 3, 0),
            _insn(_LD_W_ABS, 0, 0, _OFF_ARG2_LO),
            _insn(_JEQ_K, 0, 1, count),
            _insn(_RET_K, 0, 0, SECCOMP_RET_ALLOW),
            _insn(_RET_K, 0, 0, SECCOMP_RET_USER_NOTIF),
        ]
    out.append(_insn(_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    if len(out) > MAX_INSNS:
        raise ValueError(f"seccomp program too long ({len(out)} instructions)")
    return b"".join(out)


def run_filter(prog: bytes, nr: int, arch: int, args: tuple[int, ...] = (0,) * 6) -> int:
    """Interpret ``prog`` for one syscall and return its action (for tests; tiny subset of BPF)."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, *args)
    insns = [_INSN.unpack_from(prog, i) for i in range(0, len(prog), _INSN.size)]
    acc = pc = 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == _LD_W_ABS:
            acc = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif code == _JEQ_K:
            pc += 1 + (jt if acc == k else jf)
        elif code == _JGE_K:
            pc += 1 + (jt if acc >= k else jf)
        elif code == _RET_K:
            return k
        else:
            raise ValueError(f"unexpected BPF opcode {code:#x}")
