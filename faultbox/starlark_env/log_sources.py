"""Event-source builtins: stdout, stderr, json_decoder, logfmt_decoder, regex_decoder, decoder,
and the ``observe`` namespace (``observe.stdout(decoder=decoder("json"))``)."""

from __future__ import annotations

import re
from typing import Any

from ._builtin import builtin, register_namespace, want
from .errors import SpecError
from .source_values import DecoderValue, StreamSource


def decoder_arg(value: Any, where: str) -> DecoderValue | None:
    """A ``decoder=`` argument: a decoder value, a decoder name, or None."""
    if value is None or isinstance(value, DecoderValue):
        return value
    if isinstance(value, str):
        return decoder(value)
    raise SpecError(f"{where}: decoder= must be json_decoder(), logfmt_decoder(), regex_decoder(…)")


@builtin("stdout")
def stdout(decoder: Any = None) -> StreamSource:
    """Every line the service writes to stdout becomes an event of type ``stdout``."""
    return StreamSource("stdout", decoder_arg(decoder, "stdout()"))


@builtin("stderr")
def stderr(decoder: Any = None) -> StreamSource:
    """Every line the service writes to stderr becomes an event of type ``stderr``."""
    return StreamSource("stderr", decoder_arg(decoder, "stderr()"))


@builtin("json_decoder")
def json_decoder() -> DecoderValue:
    """Each line is a JSON object (other lines stay raw)."""
    return DecoderValue("json")


@builtin("logfmt_decoder")
def logfmt_decoder() -> DecoderValue:
    """Each line is ``key=value`` pairs (logfmt)."""
    return DecoderValue("logfmt")


@builtin("regex_decoder")
def regex_decoder(pattern: str = "") -> DecoderValue:
    """The named groups of ``pattern``'s first match in a line become its fields."""
    want(pattern, str, "regex_decoder", "pattern", "a string")
    if not pattern:
        raise SpecError('regex_decoder(): pattern= is required, e.g. pattern=r"(?P<level>\\w+)"')
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise SpecError(f"regex_decoder(): invalid pattern: {exc}") from None
    if not compiled.groupindex:
        raise SpecError("regex_decoder(): the pattern needs named groups like (?P<level>\\w+)")
    return DecoderValue("regex", pattern)


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
