"""``topic("name", decoder=…)``: every message of a Kafka topic becomes a ``topic`` event.

The source consumes from the kafka interface of the service it is attached to (kafka-python),
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
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from faultbox.starlark_env._interp import HostValue

from .decoders import raw
from .postgres_wal import pick_interface

CONNECT_TIMEOUT_S = 10.0
DRAIN_TIMEOUT_S = 1.5
REFRESH_S = 0.25


@dataclass(eq=False)
class TopicSource(HostValue):
    """``topic("order-events", decoder=json_decoder())`` as a spec holds it."""

    name: str
    decoder: Any = None  # a DecoderValue or None
    group: str = ""
    interface: str = ""
    _run: TopicReader | None = field(default=None, repr=False)

    _starlark_type = "event_source"

    def __repr__(self) -> str:
        return f"<topic {self.name!r}>"

    def start(self, session: Any, svc: Any) -> None:
        from faultbox.runtime.process import ServiceStartError

        iface = pick_interface(svc, "kafka", self.interface)
        if iface is None:
            raise ServiceStartError(
                f'service "{svc.name}": topic({self.name!r}) needs a kafka interface on the '
                'service it observes, e.g. interface("broker", "kafka", 9092)'
            )
        group = f"{self.group or 'faultbox'}-{uuid.uuid4().hex[:12]}"
        decode = self.decoder.decode if self.decoder is not None else raw
        reader = TopicReader(session, svc.name, f"127.0.0.1:{iface.port}", self.name, group, decode)
        try:
            reader.start()
        except ConnectionError as exc:
            raise ServiceStartError(f'service "{svc.name}": topic({self.name!r}): {exc}') from None
        self._run = reader

    def stop(self) -> None:
        run, self._run = self._run, None
        if run is not None:
            run.stop()


class TopicReader:
    """One test's consumer: all consumer calls happen on its own thread."""

    def __init__(
        self, session: Any, service: str, bootstrap: str, topic: str, group: str, decode: Any
    ) -> None:
        self.session = session
        self.service = service
        self.bootstrap = bootstrap
        self.topic = topic
        self.group = group
        self.decode = decode
        self.consumer: Any = None
        self._cond = threading.Condition()
        self._requested = 0  # drain tickets handed out
        self._served = 0  # drain tickets answered by the reader thread
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._assigned: set[int] = set()
        self._failed: str | None = None

    def start(self) -> None:
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while True:
            try:
                self.consumer = KafkaConsumer(
                    bootstrap_servers=self.bootstrap,
                    group_id=self.group,
                    client_id=self.group,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    request_timeout_ms=5000,
                    bootstrap_timeout_ms=2000,
                    fetch_max_wait_ms=100,  # deliver soon after a produce (long-poll bound)
                )
                self._refresh()
                if self._assigned:  # the first ListOffsets costs ~0.4 s: pay it before the test
                    self.consumer.end_offsets(list(self.consumer.assignment()))
                break
            except KafkaError as exc:
                if self.consumer is not None:
                    self.consumer.close()
                    self.consumer = None
                if time.monotonic() >= deadline:
                    raise ConnectionError(f"cannot reach the broker: {exc}") from None
                time.sleep(0.1)
        self._thread = threading.Thread(target=self._loop, name=f"topic-{self.topic}", daemon=True)
        self._thread.start()
        self.session.log.add_drain(self.drain)

    def stop(self) -> None:
        self.session.log.remove_drain(self.drain)
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(3.0)
        if self.consumer is not None:
            with contextlib.suppress(Exception):
                self.consumer.close(autocommit=False)

    # -------------------------------------------------------------- reader thread

    def _refresh(self) -> None:
        """Assign the topic's partitions once it exists (partition counts do not change here).

        A metadata request costs ~0.1 s in kafka-python, so it is only made until then.
        """
        from kafka import TopicPartition

        if self._assigned:
            return
        self.consumer.topics()  # a fresh metadata request
        parts = self.consumer.partitions_for_topic(self.topic) or set()
        if parts - self._assigned:
            new = [TopicPartition(self.topic, p) for p in sorted(parts - self._assigned)]
            self._assigned |= parts
            tps = [TopicPartition(self.topic, p) for p in sorted(self._assigned)]
            self.consumer.assign(tps)
            self.consumer.seek_to_beginning(*new)

    def _loop(self) -> None:
        next_refresh = time.monotonic() + REFRESH_S
        try:
            while not self._stopping.is_set():
                with self._cond:
                    ticket = self._requested
                if ticket > self._served:
                    self._catch_up()
                    with self._cond:
                        self._served = ticket
                        self._cond.notify_all()
                    continue
                if time.monotonic() >= next_refresh:
                    self._refresh()
                    next_refresh = time.monotonic() + REFRESH_S
                if self._assigned:
                    self._consume(50)
                else:
                    self._stopping.wait(0.05)
        except Exception as exc:  # broker gone
            if not self._stopping.is_set():
                self._failed = str(exc) or type(exc).__name__
                self.session.log.emit(
                    "source_error",
                    self.service,
                    {"source": "topic", "topic": self.topic, "error": self._failed},
                )
        finally:
            with self._cond:
                self._served = self._requested
                self._cond.notify_all()

    def _consume(self, timeout_ms: int) -> None:
        batches = self.consumer.poll(timeout_ms=timeout_ms)
        records = sorted(
            (r for batch in batches.values() for r in batch), key=lambda r: (r.timestamp, r.offset)
        )
        for rec in records:
            self._emit(rec)

    def _catch_up(self) -> None:
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        self._refresh()
        if not self._assigned:
            return
        ends = self.consumer.end_offsets(list(self.consumer.assignment()))
        while time.monotonic() < deadline:
            if all(self.consumer.position(tp) >= end for tp, end in ends.items()):
                return
            self._consume(20)

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
        self.session.log.emit("topic", self.service, fields, data=data)

    # -------------------------------------------------------------- drain

    def drain(self) -> None:
        """Wait (bounded) until messages the broker holds now have been emitted."""
        if self._failed is not None or self._stopping.is_set():
            return
        with self._cond:
            self._requested += 1
            ticket = self._requested
            self._cond.wait_for(lambda: self._served >= ticket, DRAIN_TIMEOUT_S + 0.5)


def _text(value: bytes | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace")
