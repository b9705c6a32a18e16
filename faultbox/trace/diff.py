"""``faultbox diff a.norm b.norm``: compare two normalized traces (reference §3.4).

Unlike the original's positional comparison (one inserted line made every later line
differ), lines are aligned with difflib's longest-matching-block algorithm, so an inserted
line is reported as one ``+`` line. A :class:`~.narrow.Narrowing` restricts both files to
the lines a user cares about before they are compared. Exit codes are the CLI's job
(0 identical, 2 differ, 1 unreadable input or a filter that cannot be right).
"""

from __future__ import annotations

import difflib

from .narrow import NarrowError, Narrowing, parse_lines

__all__ = ["NarrowError", "Narrowing", "diff_traces"]

_YELLOW, _RED, _GREEN, _RESET = "\033[33m", "\033[31m", "\033[32m", "\033[0m"


def _lines(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").strip()
    return text.split("\n") if text else []


def diff_traces(
    a_text: str, b_text: str, *, color: bool = False, narrowing: Narrowing | None = None
) -> tuple[bool, str]:
    """Returns ``(identical, output)``; ``output`` has no trailing newline.

    Format::

        traces differ (12 vs 13 lines):
          line 8:  write allow /tmp/inventory.wal  (same in both)
          line 9:
            + write allow /tmp/inventory.wal

    ``line N`` is the line number in ``a``; when earlier insertions/deletions have shifted
    the two files, ``b``'s number is added: ``line 9 (b: 10):``. With an active
    ``narrowing`` only the lines it keeps are compared, line numbers stay those of the
    files, and a ``(narrowed: …)`` note says how many lines were compared.
    """
    a_all, b_all = _lines(a_text), _lines(b_text)
    a_no, b_no = list(range(1, len(a_all) + 1)), list(range(1, len(b_all) + 1))
    a, b, note = a_all, b_all, ""
    if narrowing is not None and narrowing.active:
        la, lb = parse_lines(a_text), parse_lines(b_text)
        narrowing.check_matches(la, lb)
        ka, kb = narrowing.apply(la), narrowing.apply(lb)
        a, b = [ln.text for ln in ka], [ln.text for ln in kb]
        a_no, b_no = [ln.number for ln in ka], [ln.number for ln in kb]
        note = f"narrowed: {len(a)} of {len(a_all)} vs {len(b)} of {len(b_all)} lines compared"
    if a == b:
        return True, "traces are identical" + (f" ({note})" if note else "")

    def paint(code: str, s: str) -> str:
        return f"{code}{s}{_RESET}" if color else s

    def number(nos: list[int], total: int, i: int) -> int:
        return nos[i] if i < len(nos) else (nos[-1] + 1 if nos else total + 1)

    out = [paint(_YELLOW, f"traces differ ({len(a)} vs {len(b)} lines):")]
    if note:
        out.append(f"  ({note})")
    shown = -1  # highest index of a already printed
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        if i1 > 0 and i1 - 1 > shown:
            out.append(f"  line {a_no[i1 - 1]}:  {a[i1 - 1]}  (same in both)")
        na, nb = number(a_no, len(a_all), i1), number(b_no, len(b_all), j1)
        out.append(f"  line {na}:" if na == nb else f"  line {na} (b: {nb}):")
        out.extend(paint(_RED, f"    - {line}") for line in a[i1:i2])
        out.extend(paint(_GREEN, f"    + {line}") for line in b[j1:j2])
        shown = i2 - 1
    return False, "\n".join(out)
