"""Runs a page so that errors become messages, never tracebacks."""
from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from vizkit.api.visualizers import Visualizer
from vizkit.errors import ResultMissingError, VizkitError

DEMO = "Run `vizkit demo` (no network needed) to fill every page"


def fill_hint(visualizer: Visualizer) -> str:
    """What to run when a page's results are missing: the demo, or the page's own command
    (the one place a page's missing results are turned into a command line)."""
    own = visualizer.command_line
    return f"{DEMO}, or `{own}` for this one." if own else f"{DEMO}."


def guarded(visualizer: Visualizer) -> Callable[[], None]:
    """Wrap a visualizer's page function: missing results as st.info with what to run,
    known errors as st.error, the rest too (never a traceback)."""
    page, title = visualizer.page, visualizer.title

    def run() -> None:
        try:
            page()
        except ResultMissingError as e:  # said once, here, unless it names its command
            st.info(str(e) if "`vizkit " in str(e) else f"{e} {fill_hint(visualizer)}")
        except VizkitError as e:
            st.error(str(e))
        except Exception as e:  # noqa: BLE001 - a page must never show a traceback
            from streamlit.runtime.scriptrunner import RerunException, StopException

            if isinstance(e, (RerunException, StopException)):
                raise
            st.error(f"The page '{title}' failed: {type(e).__name__}: {e}. If this persists, "
                     "report it with the steps that led here.")
    run.__name__ = page.__name__
    return run
