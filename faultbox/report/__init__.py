"""Reports of a test run for people and CI: console blocks, the fault-matrix table, JUnit XML.

One concept per module:

* ``terminal`` — :class:`~faultbox.report.terminal.Reporter`, the console: one block per test
  as it finishes, the matrix table and the totals at the end.
* ``trace_details`` — the lines of a test block under its header (syscalls, rules,
  diagnostics, the per-service summary).
* ``output_excerpt`` — which lines of a service's captured output a failure shows.
* ``matrix_table`` — the fault-matrix table (plain text or rich), its legend and summary.
* ``matrix_progress`` — the ``[3/6] scenario × fault PASS`` lines while a matrix runs.
* ``junitxml`` — the JUnit XML report (``--junit``).
* ``html`` — the self-contained HTML report (``--html``, ``faultbox report``); its page is
  ``html_assets/`` (HTML, CSS, JavaScript), inlined when the file is written.
* ``merge`` — result files (``--output`` JSON) of one run's shards merged into one.

The JSON trace, ShiViz and normalized exports are data formats and live in ``faultbox.trace``.
Reports read ``faultbox.trace.results``; they never import ``faultbox.runtime`` (the runner
calls them, not the other way round).
"""
