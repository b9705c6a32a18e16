"""Kafka steps: ``publish(topic=, value=, key=)`` and ``consume(topic=, …)``.

``publish`` sends one message with a fresh producer (so a fault on the broker or the network
shows up in that step) and waits for the broker's acknowledgement; ``.data`` =
``{"topic", "partition", "offset"}``. ``value=`` may be a string or a dict/list (sent as JSON).

``consume(topic=, count=1, timeout="5s")`` returns the next ``count`` messages of the topic for
this test (each call continues where the previous one stopped; the first starts at the
beginning); ``.data`` = list of ``{"topic", "partition", "offset", "key", "value"}`` with
``value`` JSON-decoded when it is JSON. Fewer than ``count`` messages before the timeout is
still ``ok`` — check ``len(r.data)``.
"""

from __future__ import annotations

import json
import time
import uuid
import weakref
from typing import Any

from faultbox.starlark_env.duration_args import duration_arg
from faultbox.starlark_env.errors import SpecError
from faultbox.starlark_env.step_methods import register_handlers
from faultbox.starlark_env.values import InterfaceRef, Response

from ._common import (
    STEP_TIMEOUT_S,
    Timer,
    arg_int,
    arg_str,
    no_answer,
    ok,
    plain,
    server_error,
    where,
)

# Per test session: where consume() stopped, per (port, topic, partition).
_POSITIONS: weakref.WeakKeyDictionary[Any, dict[tuple[int, str, int], int]] = (
    weakref.WeakKeyDictionary()
)


def _unreachable(exc: Exception) -> bool:
    """The broker did not answer (as opposed to answering with an error)."""
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError

    return isinstance(exc, KafkaConnectionError | KafkaTimeoutError | NodeNotReadyError)


def _bootstrap(iface: InterfaceRef) -> str:
    return f"127.0.0.1:{iface.port}"


def _publish(session: Any, iface: InterfaceRef, kwargs: dict[str, Any]) -> Response:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    place = where(iface, "publish")
    topic = arg_str(kwargs, "topic", place, required=True)
    if "value" not in kwargs:
        raise SpecError(f"{place}: value= is required")
    value = plain(kwargs["value"])
    payload = value if isinstance(value, str) else json.dumps(value)
    key = arg_str(kwargs, "key", place)
    timer = Timer()
    producer = None
    try:
        producer = KafkaProducer(
            bootstrap_servers=_bootstrap(iface),
            request_timeout_ms=int(STEP_TIMEOUT_S * 1000),
            max_block_ms=int(STEP_TIMEOUT_S * 1000),
            bootstrap_timeout_ms=int(STEP_TIMEOUT_S * 1000),
            retries=0,
        )
        future = producer.send(
            topic, payload.encode(), key=key.encode() if "key" in kwargs else None
        )
        meta = future.get(timeout=STEP_TIMEOUT_S)
    except KafkaError as exc:
        if _unreachable(exc):
            return no_answer(session, iface, str(exc) or type(exc).__name__, timer)
        return server_error(str(exc) or type(exc).__name__, timer)
    finally:
        if producer is not None:
            producer.close(timeout=1)
    return ok({"topic": meta.topic, "partition": meta.partition, "offset": meta.offset}, timer)


def _consume(session: Any, iface: InterfaceRef, kwargs: dict[str, Any]) -> Response:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    place = where(iface, "consume")
    topic = arg_str(kwargs, "topic", place, required=True)
    count = arg_int(kwargs, "count", place, 1)
    timeout_s = duration_arg(kwargs.get("timeout", "5s"), place[:-2], "timeout")
    positions = _POSITIONS.setdefault(session, {})
    timer = Timer()
    consumer = None
    out: list[dict[str, Any]] = []
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=_bootstrap(iface),
            group_id=f"faultbox-step-{uuid.uuid4().hex[:12]}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            bootstrap_timeout_ms=int(STEP_TIMEOUT_S * 1000),
        )
        deadline = time.monotonic() + timeout_s
        parts: set[int] = set()
        while len(out) < count and time.monotonic() < deadline:
            consumer.topics()
            found = consumer.partitions_for_topic(topic) or set()
            if found - parts:
                parts = found
                tps = [TopicPartition(topic, p) for p in sorted(parts)]
                consumer.assign(tps)
                for tp in tps:
                    start = positions.get((iface.port, topic, tp.partition))
                    if start is None:
                        consumer.seek_to_beginning(tp)
                    else:
                        consumer.seek(tp, start)
            if not parts:
                time.sleep(0.05)
                continue
            batches = consumer.poll(timeout_ms=50, max_records=count - len(out))
            for rec in sorted((r for b in batches.values() for r in b), key=lambda r: r.offset):
                positions[(iface.port, topic, rec.partition)] = rec.offset + 1
                out.append(_record(rec))
    except KafkaError as exc:
        if _unreachable(exc):
            return no_answer(session, iface, str(exc) or type(exc).__name__, timer)
        return server_error(str(exc) or type(exc).__name__, timer)
    finally:
        if consumer is not None:
            consumer.close(autocommit=False)
    return ok(out, timer)


def _record(rec: Any) -> dict[str, Any]:
    text = rec.value.decode("utf-8", "replace") if rec.value is not None else ""
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = text
    return {
        "topic": rec.topic,
        "partition": rec.partition,
        "offset": rec.offset,
        "key": rec.key.decode("utf-8", "replace") if rec.key is not None else "",
        "value": value,
    }


register_handlers("kafka", {"publish": _publish, "consume": _consume})
