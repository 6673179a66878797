"""The built-in commands, registered through the public ``register_commands`` hook like any
plugin's commands (so ``vizkit list commands`` shows who owns each)."""
from __future__ import annotations

from vizkit import hookimpl
from vizkit.cli import (
    atlas,
    compute,
    dissect,
    faithfulness,
    findings,
    listing,
    search,
    ship,
    training,
)


@hookimpl
def register_commands(register):
    """Register every built-in command."""
    for group in (listing, compute, search, training, ship, findings, dissect, faithfulness,
                  atlas):
        for command in group.COMMANDS:
            register(command)
