"""One module per ``faultbox`` command; ``faultbox/cli.py`` imports a command's module only when
that command runs, so ``faultbox --help`` and ``faultbox diff`` start without the runtime."""
