"""The ``vizkit`` command line: listings, jobs (precompute, train, demo, ...) and search.

Every command — built-in (:mod:`vizkit.cli.builtin`, one module per group) or a plugin's —
is a registered :class:`vizkit.Command`; options are validated by :mod:`vizkit.cli.args`.
Every failure ends in one line on stderr — exit 2 for a bad argument or an unknown name
(with the valid values or a "did you mean"), 1 for anything else — never a traceback
(``VIZKIT_DEBUG=1`` shows it).
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback

from vizkit.cli.output import warn
from vizkit.errors import BadArgumentError, VizkitError
from vizkit.progress import PROGRESS_ENV


def build_parser() -> argparse.ArgumentParser:
    """The parser of every registered command."""
    from vizkit.registry import get_registry

    p = argparse.ArgumentParser(prog="vizkit", description=__doc__.splitlines()[0])
    p.add_argument("--store", help="store file (default $VIZKIT_STORE or data/vizkit.duckdb)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in get_registry().commands():
        sp = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sp)
        sp.set_defaults(func=command.run)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; exit 2 for bad arguments and unknown names, 1 for other errors."""
    args = build_parser().parse_args(argv)
    code, message = 1, ""
    try:
        from vizkit.cli.args import check_model_options

        check_model_options(args)
        code = args.func(args) or 0
    except BadArgumentError as e:
        code, message = 2, str(e)
    except VizkitError as e:
        message = str(e)
    except KeyboardInterrupt:
        code, message = 130, "interrupted; run the same command again to resume."
    except MemoryError:
        message = "ran out of memory. Use a smaller --batch-size or fewer images (--limit)."
    except OSError as e:
        where = f" ({e.filename})" if e.filename else ""
        message = f"{e.strerror or e}{where}. Check the path and its permissions."
    except Exception as e:  # noqa: BLE001 - a person gets one line, not a traceback
        if os.environ.get("VIZKIT_DEBUG"):
            traceback.print_exc()
        message = (f"unexpected error: {type(e).__name__}: {e}. Set VIZKIT_DEBUG=1 to see "
                   "where; please report it with the command that led here.")
    if message:
        warn(message)
    _report_unreadable_files(args)
    _report_plugin_failures(args)
    if os.environ.get(PROGRESS_ENV):  # started by the app: tell it how the job ended
        from vizkit.background import finish

        finish(os.environ[PROGRESS_ENV], code, message)
    return code


def _report_unreadable_files(args) -> None:
    for ds in getattr(args, "opened_datasets", []):
        if ds.changed:
            warn(f"{len(ds.changed)} files of {ds.name} could not be read when the job came "
                 "to them and were treated as blank images (run the command again to rescan "
                 "the folder):")
            for name, why in list(ds.changed.items())[:50]:
                print(f"  {name}: {why}", file=sys.stderr)


def _report_plugin_failures(args) -> None:
    from vizkit import plugins

    if args.command != "plugins" and plugins._pm is not None:
        for f in plugins.failures():
            warn(f"plugin {f.plugin} failed ({f.stage}): {f.error}")
