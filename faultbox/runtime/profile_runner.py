"""The profile run of ``faultbox generate``: each scenario once, on real services, all traced.

Every service is started with ``syscalls`` in its seccomp notify set (nothing is denied: an
intercepted call without a rule is recorded and allowed), the scenario runs like
``faultbox test`` runs it, and the syscall records become the :class:`ScenarioProfile` that
``faultbox.generate.profile`` judges mutations by. The CLI hands :func:`profile_scenarios` to
the generate command, so the generator itself never imports the runtime.
"""

from __future__ import annotations

from collections.abc import Sequence

from faultbox.generate.profile import Call, ScenarioProfile
from faultbox.starlark_env.loader import LoadedSpec
from faultbox.trace.results import TestResult

from .discovery import TestCase
from .runner import Interrupted, RunOptions, run_test

#: Per-scenario limit of the profile run (as ``faultbox test``'s default).
PROFILE_TIMEOUT_S = 60.0


def _profile(scenario: str, result: TestResult) -> ScenarioProfile:
    if result.failure_type == "service_start" or result.reason.startswith("supervisor failed"):
        return ScenarioProfile(scenario, error=result.reason)
    # Readiness events are ordered after every record made before them: what comes after the
    # last one was done while the scenario ran.
    ready = max((e.seq for e in result.events if e.type == "service_ready"), default=0)
    calls = [
        Call(e.service, e.fields.get("syscall", ""), e.fields.get("path", ""), e.seq > ready)
        for e in result.events
        if e.type == "syscall"
    ]
    return ScenarioProfile(scenario, calls, failed="" if result.passed else result.reason)


def profile_scenarios(
    spec: LoadedSpec, scenarios: Sequence[str], syscalls: frozenset[str]
) -> list[ScenarioProfile]:
    """Run each named scenario once with ``syscalls`` intercepted on every service."""
    registry = spec.registry
    saved = {name: set(calls) for name, calls in registry.notify_sets.items()}
    try:
        for name in registry.services:
            registry.notify_sets[name] = saved.get(name, set()) | syscalls
        out = []
        for name in scenarios:
            case = TestCase(name=f"test_{name}", kind="scenario", fn=registry.scenarios[name].fn)
            try:
                result = run_test(spec, case, 0, RunOptions(timeout_s=PROFILE_TIMEOUT_S))
            except Interrupted:
                raise KeyboardInterrupt from None  # services are already stopped
            out.append(_profile(name, result))
        return out
    finally:
        registry.notify_sets.clear()
        registry.notify_sets.update(saved)
