"""Protocol faults on the real data path: rules, wire parsers, the proxy hub (see
docs/protocol-faults.md). Imports nothing from faultbox.runtime."""

from .rules import PROTOCOL_ACTIONS, PROTOCOL_CRITERIA, ProtocolRule, Request, RuleBook
from .server import ProxyHub

__all__ = ["PROTOCOL_ACTIONS", "PROTOCOL_CRITERIA", "ProtocolRule", "ProxyHub", "Request",
           "RuleBook"]  # fmt: skip
