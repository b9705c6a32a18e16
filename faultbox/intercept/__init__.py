"""faultbox.intercept: syscall interception with seccomp user-notify.

See docs/design.md ("Contract: interception") and docs/interception.md.
"""

from faultbox.intercept.decide import RuleHandle
from faultbox.intercept.durations import format_go_duration, parse_duration
from faultbox.intercept.errnos import errno_from_name, errno_name, strerror_text
from faultbox.intercept.errors import InterceptError, InterceptUnavailable, LaunchError
from faultbox.intercept.launch import LaunchedProcess, launch
from faultbox.intercept.paths import SYSTEM_PREFIXES, is_system_path
from faultbox.intercept.records import SyscallRecord
from faultbox.intercept.rules import Rule
from faultbox.intercept.supervisor import Supervisor
from faultbox.intercept.syscalls import FAMILIES, expand_syscalls, is_known_syscall

__all__ = [
    "FAMILIES",
    "SYSTEM_PREFIXES",
    "InterceptError",
    "InterceptUnavailable",
    "LaunchError",
    "LaunchedProcess",
    "Rule",
    "RuleHandle",
    "Supervisor",
    "SyscallRecord",
    "errno_from_name",
    "errno_name",
    "expand_syscalls",
    "format_go_duration",
    "is_known_syscall",
    "is_system_path",
    "launch",
    "parse_duration",
    "strerror_text",
]
