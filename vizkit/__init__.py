"""vizkit: see what CNN image models learn.

Plugins write ``from vizkit import hookimpl`` and implement the hooks in
:mod:`vizkit.hookspecs`.
"""
from vizkit.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "__version__"]
