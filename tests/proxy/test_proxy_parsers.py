"""The wire parsers of faultbox/proxy against hand-made and real-client byte streams."""

from __future__ import annotations

import pytest

from faultbox.proxy import pgwire, resp
from faultbox.proxy.rules import ProtocolRule, Request, RuleBook, matches


def test_resp_command_array_and_inline() -> None:
    buf = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\nPING\r\n"
    argv, end = resp.parse_command(buf)  # type: ignore[misc]
    assert argv == [b"SET", b"k", b"hello"]
    argv2, end2 = resp.parse_command(buf, end)  # type: ignore[misc]
    assert argv2 == [b"PING"] and end2 == len(buf)


@pytest.mark.parametrize("cut", range(1, 30))
def test_resp_command_incomplete_at_every_cut(cut: int) -> None:
    buf = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n"
    if cut < len(buf):
        assert resp.parse_command(buf[:cut]) is None


def test_resp_binary_value_with_crlf_inside() -> None:
    buf = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n"
    assert resp.parse_command(buf) == ([b"SET", b"k", b"a\r\nb"], len(buf))


def test_resp_bad_bulk_is_an_error() -> None:
    with pytest.raises(resp.RespError):
        resp.parse_command(b"*1\r\n:3\r\n")
    with pytest.raises(resp.RespError):
        resp.parse_command(b"*1\r\n$3\r\nabcXY")


@pytest.mark.parametrize(
    "reply",
    [b"+OK\r\n", b"-ERR x\r\n", b":12\r\n", b"$-1\r\n", b"$3\r\nabc\r\n", b"*-1\r\n", b"*0\r\n",
     b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n", b"%1\r\n+k\r\n+v\r\n", b"|1\r\n+a\r\n+b\r\n+OK\r\n",
     b"~2\r\n_\r\n,1.5\r\n", b"*3\r\n*0\r\n$0\r\n\r\n+x\r\n"],
)  # fmt: skip
def test_resp_reply_framing(reply: bytes) -> None:
    assert resp.reply_end(reply + b"+NEXT\r\n") == len(reply)
    for cut in range(len(reply)):
        assert resp.reply_end(reply[:cut]) is None


def test_resp_error_reply_keeps_an_error_code() -> None:
    assert resp.error_reply("READONLY no writes") == b"-READONLY no writes\r\n"
    assert resp.error_reply("no writes") == b"-ERR no writes\r\n"


def test_pg_startup_and_messages() -> None:
    ssl = b"\0\0\0\x08\x04\xd2\x16\x2f"
    code, packet, end = pgwire.startup_packet(ssl)  # type: ignore[misc]
    assert code == pgwire.SSL_REQUEST and end == 8
    q = pgwire.pack(b"Q", b"SELECT 1\0")
    assert pgwire.message(q) == (b"Q", b"SELECT 1\0", len(q))
    assert pgwire.message(q[:-1]) is None
    with pytest.raises(pgwire.WireError):
        pgwire.message(b"Q\0\0\0\x01")


def test_pg_parse_and_bind_rewrites() -> None:
    parse = b"stmt1\0INSERT INTO t VALUES ($1)\0\0\x01\0\0\0\x17"
    assert pgwire.parse_fields(parse) == ("stmt1", "INSERT INTO t VALUES ($1)")
    raised = pgwire.raising_parse(parse, "23505", "dup")
    kind, body, _ = pgwire.message(raised)  # type: ignore[misc]
    name, sql = pgwire.parse_fields(body)
    assert (
        kind == b"P" and name == "stmt1" and "ERRCODE = '23505'" in sql and "$msg$dup$msg$" in sql
    )
    bind = b"\0stmt1\0\0\x01\0\0\0\x01\0\0\0\x0242\0\0"
    assert pgwire.bind_statement(bind) == "stmt1"
    kind, body, _ = pgwire.message(pgwire.bind_without_parameters(bind))  # type: ignore[misc]
    assert body == b"\0stmt1\0\0\0\0\0\0\0"


def test_pg_sqlstate_checked_and_dollars_removed() -> None:
    with pytest.raises(ValueError):
        pgwire.raising_sql("bad", "x")
    assert "$faultbox$ x" not in pgwire.raising_sql("XX000", "$faultbox$ x")


def test_rule_matching_globs_and_case() -> None:
    rule = ProtocolRule("error", criteria=(("query", "insert*"),))
    assert matches(rule, Request("postgres", {"query": "INSERT INTO t\n VALUES (1)"}))
    assert not matches(rule, Request("postgres", {"query": "SELECT 1"}))
    get = ProtocolRule("error", criteria=(("method", "GET"), ("path", "/orders*")))
    assert matches(get, Request("http", {"method": "get", "path": "/orders/7"}))
    assert not matches(get, Request("http", {"method": "POST", "path": "/orders/7"}))


def test_rule_book_newest_first_hits_seen_and_seeded_probability() -> None:
    book = RuleBook(seed=3)
    outer = book.add("db.main", [ProtocolRule("delay", delay_ns=1)])
    inner = book.add("db.main", [ProtocolRule("error", criteria=(("query", "INSERT*"),))])
    fired = book.decide("db.main", Request("postgres", {"query": "INSERT 1"}))
    assert fired is not None and fired.handle is inner
    fired = book.decide("db.main", Request("postgres", {"query": "SELECT 1"}))
    assert fired is not None and fired.handle is outer
    assert inner.hits == [1] and outer.hits == [1]
    assert inner.seen == ["INSERT 1", "SELECT 1"]
    book.remove(inner)
    book.remove(outer)
    assert book.decide("db.main", Request("postgres", {"query": "INSERT 1"})) is None

    def run(seed: int) -> list[bool]:
        b = RuleBook(seed=seed)
        b.add("r.main", [ProtocolRule("error", probability=0.5)])
        return [b.decide("r.main", Request("redis", {"command": "GET"})) is not None
                for _ in range(64)]  # fmt: skip

    assert run(1) == run(1)
    assert run(1) != run(2)
    assert 10 < sum(run(1)) < 54
