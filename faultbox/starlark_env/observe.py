"""Event-source builtins: stdout, stderr, json_decoder, logfmt_decoder, regex_decoder, decoder,
and the ``observe`` namespace (``observe.stdout(decoder=decoder("json"))``)."""

from __future__ import annotations

import re
from typing import Any

from starlark import StarlarkList

from faultbox.observe import decoders
from faultbox.observe.logs import DecoderValue, StreamSource

from ._builtin import builtin, type_name, want
from .errors import SpecError
from .namespaces import register_namespace


def _decoder_arg(value: Any, where: str) -> DecoderValue | None:
    if value is None or isinstance(value, DecoderValue):
        return value
    if isinstance(value, str):
        return decoder(value)
    raise SpecError(f"{where}: decoder= must be json_decoder(), logfmt_decoder(), regex_decoder(…)")


@builtin("stdout")
def stdout(decoder: Any = None) -> StreamSource:
    """Every line the service writes to stdout becomes an event of type ``stdout``."""
    return StreamSource("stdout", _decoder_arg(decoder, "stdout()"))


@builtin("stderr")
def stderr(decoder: Any = None) -> StreamSource:
    """Every line the service writes to stderr becomes an event of type ``stderr``."""
    return StreamSource("stderr", _decoder_arg(decoder, "stderr()"))


@builtin("json_decoder")
def json_decoder() -> DecoderValue:
    return DecoderValue("json", decoders.json_lines)


@builtin("logfmt_decoder")
def logfmt_decoder() -> DecoderValue:
    return DecoderValue("logfmt", decoders.logfmt)


@builtin("regex_decoder")
def regex_decoder(pattern: str = "") -> DecoderValue:
    want(pattern, str, "regex_decoder", "pattern", "a string")
    if not pattern:
        raise SpecError('regex_decoder(): pattern= is required, e.g. pattern=r"(?P<level>\\w+)"')
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise SpecError(f"regex_decoder(): invalid pattern: {exc}") from None
    if not compiled.groupindex:
        raise SpecError("regex_decoder(): the pattern needs named groups like (?P<level>\\w+)")
    return DecoderValue("regex", decoders.regex(pattern))


@builtin("decoder")
def decoder(name: str, pattern: str = "") -> DecoderValue:
    """``decoder("json")``, ``decoder("logfmt")``, ``decoder("regex", pattern=…)``."""
    want(name, str, "decoder", "name", "a string")
    if name == "json":
        return json_decoder()
    if name == "logfmt":
        return logfmt_decoder()
    if name == "regex":
        return regex_decoder(pattern)
    raise SpecError(f"decoder(): unknown decoder {name!r} (json, logfmt, regex)")


register_namespace("observe", {"stdout": stdout, "stderr": stderr})

# Sources that the observe package provides beyond logs register here (wal_stream, poll, topic).
SOURCE_TYPES: tuple[type, ...] = (StreamSource,)


def check_observe_list(service_name: str, value: Any) -> list[Any]:
    """Validate ``observe=[…]`` of a service."""
    if not isinstance(value, StarlarkList | list | tuple):
        raise SpecError(f"service({service_name!r}): observe= must be a list of event sources")
    out = []
    for item in value:
        if not isinstance(item, SOURCE_TYPES):
            raise SpecError(
                f"service({service_name!r}): observe= items must be event sources such as "
                f"stdout(decoder=json_decoder()), got {type_name(item)}"
            )
        out.append(item)
    return out
