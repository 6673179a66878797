"""Runs a page so that errors become messages, never tracebacks."""
from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from vizkit.errors import ResultMissingError, VizkitError


def guarded(page: Callable[[], None], title: str) -> Callable[[], None]:
    """Wrap a visualizer's page function: known errors as st.error/st.info, the rest too."""
    def run() -> None:
        try:
            page()
        except ResultMissingError as e:
            st.info(str(e))
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
