"""faultbox: find the ways a distributed system breaks."""

__version__ = "0.1.0"

# First thing when run as the command: a Ctrl-C or SIGTERM during the imports that follow
# ends in exit 130, not in a traceback or death by the signal (runtime/interrupts.py).
from faultbox.runtime.interrupts import install_if_command as _install_if_command  # noqa: E402

_install_if_command()
