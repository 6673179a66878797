"""Printing a command's result: JSON for scripts, text for people."""
from __future__ import annotations

import json
import sys


def emit(obj, as_json: bool, text: str) -> None:
    """Print ``obj`` as JSON when ``as_json``, else ``text``."""
    print(json.dumps(obj, indent=2, default=str) if as_json else text)


def warn(text: str) -> None:
    """A line for the person at the terminal (stderr), prefixed ``vizkit:``."""
    print(f"vizkit: {text}", file=sys.stderr)
