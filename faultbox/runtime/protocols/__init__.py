"""Step handlers for real servers: postgres, redis, kafka (the methods and their keywords are
declared in ``starlark_env/step_methods.py``; importing this package registers the handlers).

Every method returns a :class:`~faultbox.starlark_env.values.Response`:

* ``ok=True``, ``status=200`` — the server answered; ``body`` is the answer as text (JSON for
  rows, lists and records) and ``.data`` decodes it;
* ``ok=False``, ``status=500`` — the server answered with an error (SQL error, Redis error
  reply, broker error); ``error`` is its message;
* ``ok=False``, ``status=0`` — no answer (connection refused or closed, timeout); ``error``
  says so, and names the service's exit if the service has died.

So a fault that makes the server fail does not abort the test body: the spec asserts on
``r.ok`` / ``r.error`` (``assert_true(r.ok, r.error)``). Mistakes in the spec itself (missing
or mistyped arguments) raise a SpecError, which fails the test with file:line.
"""

from __future__ import annotations

from . import kafka, postgres, redis  # noqa: F401  (registration)
