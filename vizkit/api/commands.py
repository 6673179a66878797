"""What a command plugin registers: one ``vizkit`` subcommand — typically the job that fills
a page the same plugin adds."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """A CLI command: ``vizkit <name> ...``.

    ``add_arguments(parser)`` adds its options to its ``argparse`` sub-parser (use the
    validating types of :mod:`vizkit.cli.args` so that bad values exit 2 with the valid
    range); ``run(args)`` does the work and returns the exit code (``None`` means 0). The
    global ``--store`` is ``args.store``. Raise :class:`vizkit.errors.VizkitError` (or
    :class:`~vizkit.errors.BadArgumentError`) with a message saying what to do: the CLI
    prints it as one line, never a traceback.
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]
