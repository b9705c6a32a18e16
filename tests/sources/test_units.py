"""Unit tests without servers: test_decoding parsing, builtins, {tmpdir}."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from faultbox.common.clients import redis_value
from faultbox.observe.poll import PollRun
from faultbox.observe.postgres_wal import lsn_text, parse_change, parse_lsn
from faultbox.runtime import tmpdirs
from faultbox.starlark_env.loader import SpecLoadError, load_spec
from faultbox.trace.events import EventLog


def test_parse_insert_with_types_and_quotes() -> None:
    line = (
        "table public.orders: INSERT: id[integer]:1 item[text]:'it''s a widget' "
        "qty[bigint]:-3 paid[boolean]:true price[numeric]:1.50 whole[numeric]:10 "
        "ratio[double precision]:0.25 note[character varying]:null "
        "\"Odd Col\"[text]:'x y' tags[text[]]:'{a,b}' at[timestamp with time zone]:'2026-01-01 00:00:00+00'"
    )
    change = parse_change(line)
    assert change is not None
    assert (change["schema"], change["table"], change["action"]) == ("public", "orders", "INSERT")
    assert change["columns"] == {
        "id": 1, "item": "it's a widget", "qty": -3, "paid": True, "price": 1.5, "whole": 10,
        "ratio": 0.25, "note": None, "Odd Col": "x y", "tags": "{a,b}",
        "at": "2026-01-01 00:00:00+00",
    }  # fmt: skip


def test_parse_update_delete_truncate_and_others() -> None:
    upd = parse_change(
        "table s1.\"T\": UPDATE: old-key: id[integer]:1 new-tuple: id[integer]:2 v[text]:'n'"
    )
    assert upd is not None
    assert (upd["schema"], upd["table"]) == ("s1", "T")
    assert upd["columns"] == {"id": 2, "v": "n"} and upd["old"] == {"id": 1}
    dele = parse_change("table public.orders: DELETE: id[integer]:5")
    assert dele is not None and dele["columns"] == {"id": 5}
    nodata = parse_change("table public.orders: DELETE: (no-tuple data)")
    assert nodata is not None and nodata["columns"] == {}
    trunc = parse_change("table public.orders: TRUNCATE: (no-flags)")
    assert trunc is not None and trunc["action"] == "TRUNCATE"
    assert parse_change("BEGIN") is None and parse_change("COMMIT") is None


def test_lsn_round_trip() -> None:
    assert parse_lsn("0/1529090") == 0x1529090
    assert lsn_text(parse_lsn("1A/FF0000")) == "1A/FF0000"


def test_redis_value() -> None:
    assert redis_value(None) == ""
    assert redis_value(b"v") == "v"
    assert redis_value([b"a", 1, None]) == ["a", 1, ""]


def test_poll_emits_start_value_then_changes_and_one_error() -> None:
    values: list[Any] = ["", "", "x", RuntimeError("down"), RuntimeError("down"), "x"]

    def fetch() -> tuple[dict[str, Any], dict[str, str]]:
        v = values.pop(0)
        if isinstance(v, Exception):
            raise v
        return {"value": v}, {"value": v}

    fetch.close = lambda: None  # type: ignore[attr-defined]
    log = EventLog()
    run = PollRun(log, "redis", fetch, 3600, "GET k")
    run.start()  # first poll
    for _ in range(5):
        run.poll_once()
    run.stop()
    evs = [(e.type, e.data) for e in log.snapshot()]
    assert evs == [
        ("poll", {"value": ""}),
        ("poll", {"value": "x"}),
        ("source_error", None),
    ]


def test_expand_tmpdir_creates_an_owned_dir(tmp_path: Path) -> None:
    argv, env = tmpdirs.expand_tmpdir(
        ["pg", "{tmpdir}/data", "-p", "1"], {"A": "{tmpdir}", "B": "b"},
        session_tmpdir=str(tmp_path), service="db", user="postgres",
    )  # fmt: skip
    d = tmp_path / "db"
    assert argv == ["pg", f"{d}/data", "-p", "1"] and env == {"A": str(d), "B": "b"}
    assert d.stat().st_uid == __import__("pwd").getpwnam("postgres").pw_uid
    assert oct(tmp_path.stat().st_mode & 0o777) == "0o711"
    same = tmpdirs.expand_tmpdir(["x"], {"A": "a"}, session_tmpdir=str(tmp_path), service="s")
    assert same == (["x"], {"A": "a"}) and not (tmp_path / "s").exists()


def _spec(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "s.star"
    path.write_text(body)
    return path


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ('poll(command="GET k", url="/x")', "give exactly one of command="),
        ("poll()", "give exactly one of command="),
        ('poll(command="GET k", interval="1ms")', 'at least "10ms"'),
        ('poll(url="ftp://x")', "must be a path"),
        ('wal_stream(tables="orders")', "tables must be a list of strings"),
        ('wal_stream(slot="Bad-Slot")', "not a valid replication slot name"),
        ("topic()", "the topic name is required"),
        ('topic("a b")', "not a valid topic name"),
        ('topic("t", decoder="yaml")', "unknown decoder"),
        ('topic("t", colour=1)', "unknown keyword argument 'colour'"),
    ],
)
def test_builtin_errors(tmp_path: Path, call: str, message: str) -> None:
    spec = _spec(tmp_path, f"x = {call}\n")
    with pytest.raises(SpecLoadError, match=message.replace("(", r"\(")) as err:
        load_spec(spec)
    assert "s.star:1" in str(err.value)


def test_sources_are_accepted_by_observe(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        'a = service("a", "/bin/true", interface("m", "postgres", 1), '
        'observe=[wal_stream(tables=["t"]), poll(command="GET k"), poll(url="/h"), '
        'topic("t", decoder=json_decoder()), topic(topic="u", decoder="json")])\n',
    )
    loaded = load_spec(spec)
    kinds = [type(s).__name__ for s in loaded.registry.services["a"].observe]
    assert kinds == ["WalStream", "PollSource", "PollSource", "TopicSource", "TopicSource"]


def test_postgres_fresh_refuses_root() -> None:
    if os.getuid() != 0:
        pytest.skip("needs root")
    script = Path(__file__).resolve().parents[2] / "examples/ch11/services/postgres-fresh"
    proc = subprocess.run([str(script), "/tmp/x"], capture_output=True, text=True)
    assert proc.returncode == 2 and 'user="postgres"' in proc.stderr
