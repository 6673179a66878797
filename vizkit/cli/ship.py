"""``vizkit bundle``: a store and the files it refers to, as one file that opens anywhere."""
from __future__ import annotations

import argparse
from pathlib import Path

from vizkit.api.commands import Command
from vizkit.cli import args as a
from vizkit.errors import BadArgumentError


def cmd_bundle(args) -> int:
    from tqdm import tqdm

    from vizkit.store.bundle import write_bundle

    store = a.store(args)
    if not store.ready():
        raise BadArgumentError(f"There is no store at {store.path} to bundle. Run `vizkit "
                               "demo` or `vizkit precompute ...` first.")
    out = Path(args.out)
    if out.resolve() == store.path.resolve():
        raise BadArgumentError("--out must not be the store itself.")
    if not out.parent.is_dir():
        raise BadArgumentError(f"The folder {out.parent} does not exist.")
    with tqdm(desc="bundle", unit="B", unit_scale=True, disable=args.quiet) as bar:
        manifest = write_bundle(store.bundle or store.path, out,
                                checkpoints=not args.no_checkpoints,
                                on_file=lambda name, n: bar.update(n))
    files = manifest["files"]
    size = out.stat().st_size
    print(f"{out}: {len(files)} files ({sum(f['bytes'] for f in files.values()) / 1e6:.1f} MB "
          f"unpacked, {size / 1e6:.1f} MB packed)"
          + ("" if manifest["checkpoints"] else ", without checkpoints")
          + f". Open it anywhere with --store {out} or VIZKIT_STORE={out}.")
    return 0


def cmd_fetch_bundle(args) -> int:
    from vizkit.progress import bar
    from vizkit.store.bundle import fetch_bundle

    with bar(desc="fetching the bundle", unit="B", unit_scale=True,
             disable=args.quiet) as progress:
        def report(done: int, total: int) -> None:
            if total and progress.total != total:
                progress.total = total
            progress.update(done - progress.n)
        out = fetch_bundle(args.url, Path(args.out), on_bytes=report)
    print(f"{out}: a vizkit bundle ({out.stat().st_size / 1e6:.1f} MB). Open it with "
          f"--store {out} or VIZKIT_STORE={out}.")
    return 0


def bundle_url(text: str) -> str:
    """An argparse type: a URL of a scheme ``fetch-bundle`` can read."""
    from urllib.parse import urlparse

    from vizkit.store.bundle import FETCH_SCHEMES

    scheme = urlparse(text).scheme
    if scheme not in FETCH_SCHEMES or not text.removeprefix(f"{scheme}:").strip("/"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a URL starting with "
                                         + ", ".join(f"{s}://" for s in FETCH_SCHEMES))
    return text


def _fetch_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("url", type=bundle_url,
                    help="where the bundle is (https://, http:// or file://)")
    sp.add_argument("--out", required=True, help="the file to write")
    a.add_quiet(sp)


def _bundle_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--out", required=True, help="the bundle file to write (e.g. demo.vizkit)")
    sp.add_argument("--no-checkpoints", action="store_true",
                    help="leave checkpoint files out (a read-only hosted app needs only the "
                         "precomputed results; uploads, on-demand maps and rendering then "
                         "say that they need them)")
    a.add_quiet(sp)


COMMANDS = [
    Command("bundle", "the store and the files it refers to as one file that opens anywhere "
            "(--store FILE)", _bundle_args, cmd_bundle),
    Command("fetch-bundle", "download a bundle (checked before it is kept)", _fetch_args,
            cmd_fetch_bundle),
]
