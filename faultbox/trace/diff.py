"""``faultbox diff a.norm b.norm``: compare two normalized traces (reference §3.4).

Unlike the original's positional comparison (one inserted line made every later line
differ), lines are aligned with difflib's longest-matching-block algorithm, so an inserted
line is reported as one ``+`` line. Exit codes are the CLI's job (0 identical, 2 differ,
1 unreadable).
"""

from __future__ import annotations

import difflib

__all__ = ["diff_traces"]

_YELLOW, _RED, _GREEN, _RESET = "\033[33m", "\033[31m", "\033[32m", "\033[0m"


def _lines(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").strip()
    return text.split("\n") if text else []


def diff_traces(a_text: str, b_text: str, *, color: bool = False) -> tuple[bool, str]:
    """Returns ``(identical, output)``; ``output`` has no trailing newline.

    Format::

        traces differ (12 vs 13 lines):
          line 8:  write allow /tmp/inventory.wal  (same in both)
          line 9:
            + write allow /tmp/inventory.wal

    ``line N`` is the line number in ``a``; when earlier insertions/deletions have shifted
    the two files, ``b``'s number is added: ``line 9 (b: 10):``.
    """
    a, b = _lines(a_text), _lines(b_text)
    if a == b:
        return True, "traces are identical"

    def paint(code: str, s: str) -> str:
        return f"{code}{s}{_RESET}" if color else s

    out = [paint(_YELLOW, f"traces differ ({len(a)} vs {len(b)} lines):")]
    shown = -1  # highest index of a already printed
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        if i1 > 0 and i1 - 1 > shown:
            out.append(f"  line {i1}:  {a[i1 - 1]}  (same in both)")
        where = f"line {i1 + 1}" if i1 == j1 else f"line {i1 + 1} (b: {j1 + 1})"
        out.append(f"  {where}:")
        out.extend(paint(_RED, f"    - {line}") for line in a[i1:i2])
        out.extend(paint(_GREEN, f"    + {line}") for line in b[j1:j2])
        shown = i2 - 1
    return False, "\n".join(out)
