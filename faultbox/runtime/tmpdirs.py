"""Per-test service directories: ``"{tmpdir}"`` in a service's ``args`` / ``env`` values.

The placeholder is replaced by a fresh directory that belongs to that service for one test
(``<session tmpdir>/<service>``, owned by ``user=`` when the service drops privileges), so
servers such as PostgreSQL get an empty data directory per test and nothing outlives the test
(the session removes its tmpdir at teardown).
"""

from __future__ import annotations

import os
import pwd

TMPDIR_PLACEHOLDER = "{tmpdir}"


def service_tmpdir(session_tmpdir: str, service: str, user: str = "") -> str:
    """``<session_tmpdir>/<service>``, created on first use and owned by ``user`` if given."""
    path = os.path.join(session_tmpdir, service)
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o700)
        if user:
            entry = pwd.getpwnam(user)
            os.chown(path, entry.pw_uid, entry.pw_gid)
            # The session's tmpdir is 0700 root: let the service's user traverse it.
            os.chmod(session_tmpdir, 0o711)
    return path


def expand_tmpdir(
    argv: list[str],
    env: dict[str, str],
    *,
    session_tmpdir: str,
    service: str,
    user: str = "",
) -> tuple[list[str], dict[str, str]]:
    """Replace ``"{tmpdir}"`` in ``argv`` and ``env`` values by the service's per-test dir.

    The directory is only created when the placeholder is used. Returns new lists/dicts.
    """
    used = any(TMPDIR_PLACEHOLDER in a for a in argv) or any(
        TMPDIR_PLACEHOLDER in v for v in env.values()
    )
    if not used:
        return argv, env
    path = service_tmpdir(session_tmpdir, service, user)
    new_argv = [a.replace(TMPDIR_PLACEHOLDER, path) for a in argv]
    new_env = {k: v.replace(TMPDIR_PLACEHOLDER, path) for k, v in env.items()}
    return new_argv, new_env
