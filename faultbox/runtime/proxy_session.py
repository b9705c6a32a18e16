"""Protocol faults of one test: the proxy hub, the redirects, and the rule windows.

The session owns one :class:`ProtocolFaults`. Before the first service attaches, every
interface a protocol rule can target (``registry.proxied``, fixed at load time) gets a proxy
listener and a supervisor redirect, so every connection to it — pools opened at start-up
included — runs through the proxy; with no rule active the proxy only relays.
"""

from __future__ import annotations

import threading
from typing import Any

from faultbox.intercept.redirect import Redirect
from faultbox.proxy import ProtocolRule, ProxyHub, RuleBook
from faultbox.proxy.rules import ProtocolHandle
from faultbox.starlark_env.errors import SpecError
from faultbox.starlark_env.values import InterfaceRef
from faultbox.trace.results import RuleReport
from faultbox.trace.vocabulary import EventType


def interface_key(iface: InterfaceRef) -> str:
    return f"{iface.service.name}.{iface.name}"


class ProtocolFaults:
    """Proxy, redirects and protocol rule sets of one session."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.book = RuleBook(session.seed)
        self.hub: ProxyHub | None = None
        self._handles: dict[int, tuple[InterfaceRef, ProtocolHandle, list[RuleReport], str]] = {}
        self._next = 1
        self._lock = threading.Lock()

    @property
    def proxied(self) -> set[tuple[str, str]]:
        return set(self.session.spec.registry.proxied)

    def start(self, supervisor: Any) -> None:
        """Listen for every proxied interface and steer connections to it (call once)."""
        if not self.proxied or self.hub is not None:
            return
        self.hub = ProxyHub(self.book, self._on_event)
        services = self.session.spec.registry.services
        for svc_name, iface_name in sorted(self.proxied):
            iface = services[svc_name].interfaces[iface_name]
            ports = self.hub.listen(interface_key(iface), iface.protocol, svc_name, iface.port)
            supervisor.set_redirect(Redirect(iface.port, svc_name, ports, self.hub.expect))

    def _on_event(self, owner: str, fields: dict[str, str]) -> None:
        self.session.log.emit(EventType.PROXY, owner, fields)

    def dial_port(self, iface: InterfaceRef) -> int:
        """Where a step reaches ``iface``: the proxy while a rule is active on it."""
        key = interface_key(iface)
        if self.hub is not None and self.book.active(key):
            port = self.hub.port_for(key)
            if port is not None:
                return port
        return iface.port

    def apply(self, iface: InterfaceRef, rules: list[ProtocolRule], origin: str = "") -> int:
        """Activate protocol rules on ``iface`` (they stack); return a handle for remove()."""
        if (iface.service.name, iface.name) not in self.proxied:
            raise SpecError(
                f"protocol rules on {interface_key(iface)} cannot take effect: faultbox decides "
                "which interfaces it proxies before services start; name the interface "
                f"directly, e.g. fault({interface_key(iface)}, error(...), run=fn)"
            )
        self.session._supervisor()  # the proxy starts with the supervisor (steps-only specs)
        reports = [
            RuleReport(
                kind="protocol",
                service=iface.service.name,
                key=iface.name,
                action=r.action,
                spec=r.spec_text(),
                filter=[],
                label=r.label,
            )  # fmt: skip
            for r in rules
        ]
        fields = {iface.name: " ".join(r.spec_text() for r in rules)}
        self.session.log.emit_ordered(EventType.FAULT_APPLIED, iface.service.name, fields)
        handle = self.book.add(interface_key(iface), rules)
        with self._lock:
            number = self._next
            self._next += 1
            self._handles[number] = (iface, handle, reports, origin)
            self.session.rule_reports.extend(reports)
        return number

    def remove(self, number: int) -> None:
        with self._lock:
            entry = self._handles.pop(number, None)
        if entry is None:
            return
        iface, handle, reports, _ = entry
        self.book.remove(handle)
        _collect(handle, reports)
        self.session.log.emit_ordered(EventType.FAULT_REMOVED, iface.service.name,
                                      {iface.name: "removed"})  # fmt: skip
        self.session.log.sync()

    def remove_started(self, iface: InterfaceRef) -> None:
        """Remove the rules fault_start() put on ``iface``."""
        with self._lock:
            numbers = [n for n, (i, _, _, origin) in self._handles.items()
                       if i is iface and origin == "start"]  # fmt: skip
        for n in numbers:
            self.remove(n)

    def finish(self) -> None:
        """Hit counts of rules still active at the end of the test."""
        with self._lock:
            entries = list(self._handles.values())
        for _, handle, reports, _ in entries:
            _collect(handle, reports)

    def close(self) -> None:
        if self.hub is not None:
            self.hub.close()


def _collect(handle: ProtocolHandle, reports: list[RuleReport]) -> None:
    for rep, hits in zip(reports, handle.hits, strict=False):
        rep.hits = hits
        rep.filter = list(handle.seen)  # what the rule saw: "never matched" reports show it
