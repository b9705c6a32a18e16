"""The reader behind ``topic("name", decoder=…)``: every message of a Kafka topic becomes a
``topic`` event.

The reader consumes from the kafka interface of the service it is attached to (kafka-python),
as a consumer group that is unique per test (``faultbox-<random>``, or ``<group>-<random>``).
Partitions are assigned directly instead of through the group protocol: a group join costs one
to several seconds per test on small brokers, and a per-test group has nobody to share with. The
broker is fresh for every test, so reading each partition from its beginning sees every message
of this test — including ones produced before the first metadata refresh. A topic that does not
exist yet is not created (that would change the system under test); it is picked up as soon as
it appears (metadata refresh every 250 ms and before every drain, until it exists).

Event: type ``topic``, service = the broker's service, fields ``topic``, ``partition``,
``offset``, ``key`` (and ``data`` = the raw value), ``.data`` = the decoded value
(``json_decoder()`` → the object; no decoder → ``{"raw": value}``).

Drain guarantee: before every snapshot the reader refreshes metadata, reads the end offsets of
every partition and consumes until it has reached them (at most :data:`DRAIN_TIMEOUT_S`), so
every message the broker acknowledged before an assertion is in the trace.

If the consumer fails or the broker stops answering (the drain cannot read the end offsets),
the reader records one ``source_error`` and keeps it as its failure: a query over its ``topic``
events then cannot be proven (``_background.py``). A topic that never appeared is a note that
lists the topics the broker has (a misspelled name shows).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from faultbox.intercept.globs import value_matches
from faultbox.trace.events import EventLog
from faultbox.trace.vocabulary import EventType

from ._background import BackgroundReader
from .start_errors import SourceStartError

CONNECT_TIMEOUT_S = 10.0
DRAIN_TIMEOUT_S = 1.5
REFRESH_S = 0.25


def consumer_group(prefix: str) -> str:
    """A consumer group unique to one test: ``<prefix or faultbox>-<random>``."""
    return f"{prefix or 'faultbox'}-{uuid.uuid4().hex[:12]}"


class TopicReader(BackgroundReader):
    """One test's consumer thread, plus a second client that answers drains.

    The reader's consumer belongs to its thread (kafka-python clients are not thread-safe).
    Drains ask the broker for end offsets over their own connection — on the reader's, the
    answer would queue behind its pending long-poll fetch — and then wait until the reader has
    emitted everything below them.
    """

    source = "topic"
    event_type = EventType.TOPIC
    event_fields = frozenset({"topic", "partition", "offset", "key", "data"})

    def __init__(
        self, log: EventLog, service: str, bootstrap: str, topic: str, group: str, decode: Any
    ) -> None:
        super().__init__(log, service)
        self.bootstrap = bootstrap
        self.topic = topic
        self.group = group
        self.decode = decode
        self.consumer: Any = None
        self.offsets: Any = None  # used by drains only, under _offsets_lock
        self._offsets_lock = threading.Lock()
        self._cond = threading.Condition()
        self._partitions: set[int] = set()  # assigned by the reader
        self._positions: dict[int, int] = {}  # next offset the reader will emit, per partition
        self._refresh_asked = 0  # drain requests for a metadata refresh (topic not seen yet)
        self._refresh_done = 0
        self._failed: str | None = None

    def start(self) -> None:
        """Connect and assign the topic's partitions (SourceStartError if the broker is gone)."""
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        common = {
            "bootstrap_servers": self.bootstrap,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "request_timeout_ms": 5000,
            "bootstrap_timeout_ms": 2000,
        }
        while True:
            try:
                self.consumer = KafkaConsumer(
                    group_id=self.group, client_id=self.group, fetch_max_wait_ms=100, **common
                )
                self.offsets = KafkaConsumer(client_id=f"{self.group}-offsets", **common)
                self._refresh()
                self._end_offsets()  # the first ListOffsets costs ~0.4 s: pay it now
                break
            except KafkaError as exc:
                for client in (self.consumer, self.offsets):
                    if client is not None:
                        with contextlib.suppress(Exception):
                            client.close()
                self.consumer = self.offsets = None
                if time.monotonic() >= deadline:
                    raise SourceStartError(f"cannot reach the broker: {exc}") from None
                time.sleep(0.1)
        self._run_in_background(self._loop, f"topic-{self.topic}", self.drain)

    def stop(self) -> None:
        self._stop_background(3.0)
        for client in (self.consumer, self.offsets):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close(autocommit=False)

    # -------------------------------------------------------------- reader thread

    def _refresh(self) -> None:
        """Assign the topic's partitions once it exists (partition counts do not change here).

        A metadata request costs ~0.1 s in kafka-python, so it is only made until then.
        """
        from kafka import TopicPartition

        if self._partitions:
            return
        self.consumer.topics()  # a fresh metadata request
        parts = self.consumer.partitions_for_topic(self.topic) or set()
        if parts:
            tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
            self.consumer.assign(tps)
            self.consumer.seek_to_beginning(*tps)
            with self._cond:
                self._partitions = set(parts)
                self._cond.notify_all()

    def _loop(self) -> None:
        next_refresh = time.monotonic() + REFRESH_S
        try:
            while not self._stopping.is_set():
                with self._cond:
                    asked = self._refresh_asked
                if asked > self._refresh_done or (
                    not self._partitions and time.monotonic() >= next_refresh
                ):
                    self._refresh()
                    next_refresh = time.monotonic() + REFRESH_S
                    with self._cond:
                        self._refresh_done = asked
                        self._cond.notify_all()
                if self._partitions:
                    self._consume(50)
                else:
                    self._stopping.wait(0.05)
        except Exception as exc:  # broker gone
            self._lost(exc)
        finally:
            with self._cond:
                self._refresh_done = self._refresh_asked
                self._cond.notify_all()

    def _consume(self, timeout_ms: int) -> None:
        batches = self.consumer.poll(timeout_ms=timeout_ms)
        records = sorted(
            (r for batch in batches.values() for r in batch), key=lambda r: (r.timestamp, r.offset)
        )
        for rec in records:
            self._emit(rec)
            with self._cond:
                self._positions[rec.partition] = rec.offset + 1
                self._cond.notify_all()

    def _emit(self, rec: Any) -> None:
        value = _text(rec.value)
        key = _text(rec.key)
        data = self.decode(value)
        fields = {
            "topic": rec.topic,
            "partition": str(rec.partition),
            "offset": str(rec.offset),
            "key": key,
            "data": value,
        }
        self.log.emit(EventType.TOPIC, self.service, fields, data=data)

    # -------------------------------------------------------------- drain

    def _end_offsets(self) -> dict[int, int]:
        from kafka import TopicPartition

        with self._cond:
            parts = sorted(self._partitions)
        if not parts:
            return {}
        with self._offsets_lock:
            ends = self.offsets.end_offsets([TopicPartition(self.topic, p) for p in parts])
        return {tp.partition: end for tp, end in ends.items()}

    def drain(self) -> None:
        """Wait (bounded) until messages the broker holds now have been emitted."""
        if self._failed is not None or self._stopping.is_set():
            return
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        with self._cond:
            if not self._partitions:  # has the topic appeared? let the reader look
                self._refresh_asked += 1
                ticket = self._refresh_asked
                self._cond.wait_for(
                    lambda: self._refresh_done >= ticket, deadline - time.monotonic()
                )
        try:
            ends = self._end_offsets()
        except Exception as exc:
            # The broker does not answer: what it acknowledged may never reach the trace.
            self._lost(exc)
            return
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    all(self._positions.get(p, 0) >= end for p, end in ends.items())
                    or self._failed is not None
                    or self._stopping.is_set()
                ),
                max(0.0, deadline - time.monotonic()),
            )

    # -------------------------------------------------------------- health

    @property
    def label(self) -> str:
        return f"topic({json.dumps(self.topic)})"

    def covers(self, filters: Mapping[str, str]) -> bool:
        """As for every source, and a ``topic=`` filter must match this reader's topic."""
        pattern = filters.get("topic")
        if pattern and not value_matches(pattern)(self.topic):
            return False
        return super().covers(filters)

    def _lost(self, exc: BaseException) -> None:
        if self._stopping.is_set():
            return
        detail = str(exc).strip() or type(exc).__name__
        self._fail("lost its connection to the broker", detail, topic=self.topic)
        with self._cond:
            self._failed = detail
            self._cond.notify_all()

    def notes(self) -> list[str]:
        """A topic that does not exist on the broker (asks the broker which ones do)."""
        with self._cond:
            if self._partitions or self._failed is not None or self.offsets is None:
                return []
        try:
            with self._offsets_lock:
                topics = sorted(t for t in self.offsets.topics() if not t.startswith("__"))
        except Exception:
            return []
        if self.topic in topics:
            return []
        there = f"topics on the broker: {', '.join(topics)}" if topics else "it has no topics"
        return [
            f"topic({json.dumps(self.topic)}) of {self.service}: the topic does not exist on "
            f"the broker, so no message was read ({there})"
        ]


def _text(value: bytes | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace")
