"""Every builtin refuses an unknown keyword at load time, even inside a test body."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from faultbox.starlark_env._builtin import _BUILTINS
from faultbox.starlark_env.loader import SpecLoadError, _import_builtin_modules, load_spec

_import_builtin_modules()
STRICT = sorted(
    name
    for name, fn in _BUILTINS.items()
    if not any(p.kind is p.VAR_KEYWORD for p in inspect.signature(fn).parameters.values())
)


def test_the_list_covers_the_spec_language() -> None:
    for name in ("service", "interface", "tcp", "http", "op", "deny", "delay", "trace",
                 "partition", "scenario", "fault_scenario", "fault_matrix", "assert_eq",
                 "assert_true", "stdout", "json_decoder", "wal_stream", "poll", "topic"):  # fmt: skip
        assert name in STRICT, name


@pytest.mark.parametrize("name", STRICT)
def test_unknown_keyword_is_a_load_error(name: str, tmp_path: Path) -> None:
    spec = tmp_path / "spec.star"
    spec.write_text(f"def test_x():\n    {name}(no_such_option = 1)\n")
    with pytest.raises(SpecLoadError) as err:
        load_spec(spec)
    message = str(err.value)
    expected = f"spec.star:2: {name}(): unknown keyword argument 'no_such_option' (accepted: "
    assert expected in message, message
