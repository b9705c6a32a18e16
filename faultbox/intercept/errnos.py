"""Errno names and Go's strerror texts (the decision strings the original prints).

``deny(EIO)`` is recorded as ``deny(input/output error)``: the texts below are Go's
``syscall.Errno.Error()`` strings for Linux, which specs and golden traces compare against.
"""

from __future__ import annotations

import errno as _errno
import os

# Go's texts for Linux (syscall/zerrors_linux_amd64.go); lower case, no trailing period.
_GO_TEXT: dict[str, str] = {
    "EPERM": "operation not permitted",
    "ENOENT": "no such file or directory",
    "ESRCH": "no such process",
    "EINTR": "interrupted system call",
    "EIO": "input/output error",
    "ENXIO": "no such device or address",
    "E2BIG": "argument list too long",
    "ENOEXEC": "exec format error",
    "EBADF": "bad file descriptor",
    "ECHILD": "no child processes",
    "EAGAIN": "resource temporarily unavailable",
    "ENOMEM": "cannot allocate memory",
    "EACCES": "permission denied",
    "EFAULT": "bad address",
    "EBUSY": "device or resource busy",
    "EEXIST": "file exists",
    "EXDEV": "invalid cross-device link",
    "ENODEV": "no such device",
    "ENOTDIR": "not a directory",
    "EISDIR": "is a directory",
    "EINVAL": "invalid argument",
    "ENFILE": "too many open files in system",
    "EMFILE": "too many open files",
    "ENOTTY": "inappropriate ioctl for device",
    "ETXTBSY": "text file busy",
    "EFBIG": "file too large",
    "ENOSPC": "no space left on device",
    "ESPIPE": "illegal seek",
    "EROFS": "read-only file system",
    "EMLINK": "too many links",
    "EPIPE": "broken pipe",
    "EDOM": "numerical argument out of domain",
    "ERANGE": "numerical result out of range",
    "EDEADLK": "resource deadlock avoided",
    "ENAMETOOLONG": "file name too long",
    "ENOLCK": "no locks available",
    "ENOSYS": "function not implemented",
    "ENOTEMPTY": "directory not empty",
    "ELOOP": "too many levels of symbolic links",
    "ENOMSG": "no message of desired type",
    "EIDRM": "identifier removed",
    "ENODATA": "no data available",
    "ETIME": "timer expired",
    "ENOLINK": "link has been severed",
    "EPROTO": "protocol error",
    "EBADMSG": "bad message",
    "EOVERFLOW": "value too large for defined data type",
    "EILSEQ": "invalid or incomplete multibyte or wide character",
    "ENOTSOCK": "socket operation on non-socket",
    "EDESTADDRREQ": "destination address required",
    "EMSGSIZE": "message too long",
    "EPROTOTYPE": "protocol wrong type for socket",
    "ENOPROTOOPT": "protocol not available",
    "EPROTONOSUPPORT": "protocol not supported",
    "ESOCKTNOSUPPORT": "socket type not supported",
    "EOPNOTSUPP": "operation not supported",
    "EPFNOSUPPORT": "protocol family not supported",
    "EAFNOSUPPORT": "address family not supported by protocol",
    "EADDRINUSE": "address already in use",
    "EADDRNOTAVAIL": "cannot assign requested address",
    "ENETDOWN": "network is down",
    "ENETUNREACH": "network is unreachable",
    "ENETRESET": "network dropped connection on reset",
    "ECONNABORTED": "software caused connection abort",
    "ECONNRESET": "connection reset by peer",
    "ENOBUFS": "no buffer space available",
    "EISCONN": "transport endpoint is already connected",
    "ENOTCONN": "transport endpoint is not connected",
    "ESHUTDOWN": "cannot send after transport endpoint shutdown",
    "ETOOMANYREFS": "too many references: cannot splice",
    "ETIMEDOUT": "connection timed out",
    "ECONNREFUSED": "connection refused",
    "EHOSTDOWN": "host is down",
    "EHOSTUNREACH": "no route to host",
    "EALREADY": "operation already in progress",
    "EINPROGRESS": "operation now in progress",
    "ESTALE": "stale NFS file handle",
    "EDQUOT": "disk quota exceeded",
    "ECANCELED": "operation canceled",
    "EOWNERDEAD": "owner died",
    "ENOTRECOVERABLE": "state not recoverable",
}

# Aliases Go and libc accept for the same number.
_ALIASES = {"EWOULDBLOCK": "EAGAIN", "EDEADLOCK": "EDEADLK", "ENOTSUP": "EOPNOTSUPP"}

_BY_NAME: dict[str, int] = {name: getattr(_errno, name) for name in _GO_TEXT}
_BY_NAME.update({alias: _BY_NAME[target] for alias, target in _ALIASES.items()})
_TEXT_BY_NUMBER: dict[int, str] = {_BY_NAME[name]: text for name, text in _GO_TEXT.items()}


def errno_from_name(name: str) -> int:
    """``"EIO"`` → 5 (case-insensitive); ``ValueError`` for an unknown name."""
    key = name.strip().upper()
    try:
        return _BY_NAME[key]
    except KeyError:
        known = ", ".join(sorted(_GO_TEXT))
        raise ValueError(f"unknown errno {name!r} (known: {known})") from None


def errno_name(number: int) -> str:
    """5 → ``"EIO"``; ``"errno N"`` when the number has no name."""
    return _errno.errorcode.get(number, f"errno {number}")


def strerror_text(number: int) -> str:
    """Go's text for an errno number: 5 → ``"input/output error"``."""
    text = _TEXT_BY_NUMBER.get(number)
    if text is not None:
        return text
    if number in _errno.errorcode:  # rarely used numbers: libc's text, lower-cased like Go's
        msg = os.strerror(number)
        return msg[:1].lower() + msg[1:]
    return f"errno {number}"


def known_errnos() -> tuple[str, ...]:
    """Every errno name :func:`errno_from_name` accepts, sorted."""
    return tuple(sorted(_BY_NAME))
