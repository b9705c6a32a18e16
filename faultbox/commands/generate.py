"""``faultbox generate SPEC``: propose failure scenarios for a spec's scenario() probes.

The generator (``faultbox/generate``) stays below the runtime: the profile run it needs, each
scenario once on real services (``runtime/profile_runner.py``), is handed to it from here.
"""

from __future__ import annotations

from faultbox.generate.command import make_generate_command
from faultbox.runtime.profile_runner import profile_scenarios

command = make_generate_command(profile_scenarios)
