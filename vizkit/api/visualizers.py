"""What a visualizer plugin registers: one page of the app, and the command that fills it."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Visualizer:
    """An app page contributed by a plugin.

    ``page`` is called with no arguments on every Streamlit rerun of the page and draws it
    (it should ask the read side and draw; heavy work belongs to a command). ``command`` is
    the name of the registered :class:`~vizkit.api.commands.Command` (a built-in one, or one
    the same plugin registers) that computes what the page shows, and ``example`` its
    typical arguments: together they are what the app says to run when results are missing.
    """

    name: str
    title: str
    page: Callable[[], None]
    icon: str = ":material/widgets:"
    order: int = 100
    description: str = ""
    command: str = ""
    example: str = ""

    @property
    def command_line(self) -> str:
        """``vizkit <command> <example>``, or "" for a page that needs no job."""
        return f"vizkit {self.command} {self.example}".strip() if self.command else ""
