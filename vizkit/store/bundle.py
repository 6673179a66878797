"""A store as one file that travels: ``vizkit bundle --out FILE`` and opening it anywhere.

A bundle is a zip archive holding ``vizkit-bundle.json`` (a manifest: every member's size
and SHA-256), ``store.duckdb`` (a consistent snapshot, every path in it relative to the
store's folder) and the files that store refers to (``shards/…``; ``checkpoints/…`` unless
made with ``checkpoints=False``). Opening one (``Store("x.vizkit")``, ``--store x.vizkit``,
``VIZKIT_STORE=x.vizkit``) unpacks it once into a cache folder keyed by the bundle's
digest and serves that copy read-only. The cache is bounded (``VIZKIT_BUNDLE_CACHE_BYTES``,
default 4 GiB): the least recently opened unpacked bundles are evicted to make room, and a
bundle that would not fit on its own is refused before anything is written.

Unpacking trusts nothing in the archive: only the manifest's members are written, each name
must be a plain relative path of the expected shape, sizes are bounded (by the manifest,
checked while reading, so a zip bomb stops at its declared size), every file's digest is
checked, and the folder appears under its final name only when complete.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import duckdb

from vizkit.errors import StoreError

MANIFEST = "vizkit-bundle.json"
STORE_NAME = "store.duckdb"
FORMAT = 1
CACHE_ENV = "VIZKIT_BUNDLE_CACHE"
MAX_MEMBERS = 100_000
MAX_TOTAL_BYTES = int(os.environ.get("VIZKIT_BUNDLE_MAX_BYTES", 64 << 30))
CACHE_BYTES_ENV = "VIZKIT_BUNDLE_CACHE_BYTES"
CACHE_BYTES = 4 << 30  # unpacked bundles kept, least recently opened evicted beyond
LAST_USED = ".last-used"
_MEMBER = re.compile(r"^(store\.duckdb|(shards|checkpoints)(/[A-Za-z0-9._=+@,-]+){1,4})$")


def is_bundle(path: Path) -> bool:
    """Whether ``path`` is a file that starts like a zip archive (a DuckDB file does not)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


# -- writing ------------------------------------------------------------------------
def write_bundle(store_path: Path, out: Path, checkpoints: bool = True,
                 on_file: Callable[[str, int], None] | None = None) -> dict:
    """Write the store at ``store_path`` and the files it refers to as the bundle ``out``.

    Called by ``vizkit bundle``. The snapshot is taken through a read-only connection
    (``COPY FROM DATABASE``), so a job may keep writing meanwhile. Returns the manifest.
    ``on_file(name, bytes)`` is called as each member is added (for a progress bar).
    """
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="vizkit-bundle-") as tmp:
        snapshot = Path(tmp) / STORE_NAME
        members = _snapshot(store_path, snapshot, checkpoints)
        manifest = {"format": FORMAT, "checkpoints": checkpoints,
                    "files": {STORE_NAME: _describe(snapshot)}}
        for name, source in members.items():
            manifest["files"][name] = _describe(source)
        partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
        try:
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
                zf.writestr(MANIFEST, json.dumps(manifest, indent=1))
                for name, source in [(STORE_NAME, snapshot), *members.items()]:
                    zf.write(source, name)
                    if on_file:
                        on_file(name, manifest["files"][name]["bytes"])
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
    return manifest


def _describe(path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _snapshot(store_path: Path, target: Path, checkpoints: bool) -> dict[str, Path]:
    """Copy the store into ``target`` with every referenced path rewritten to its member
    name; return {member name: file on disk} of the files to pack beside it."""
    con = duckdb.connect(str(target))
    try:
        con.execute("ATTACH ? AS src (READ_ONLY)", [str(store_path)])
        con.execute(f"COPY FROM DATABASE src TO {_database_name(con)}")
        con.execute("DETACH src")
        members: dict[str, Path] = {}
        root = store_path.parent
        for key, name, recorded in con.execute(
                "SELECT result_key, name, path FROM shards").fetchall():
            source = _inside(root, recorded)
            member = _member_for(recorded, f"shards/{_safe(key)}/{_safe(Path(recorded).name)}")
            members[member] = source
            con.execute("UPDATE shards SET path = ? WHERE result_key = ? AND name = ?",
                        [member, key, name])
        for run, epoch, recorded in con.execute(
                "SELECT run, epoch, path FROM checkpoints").fetchall():
            member = f"checkpoints/{_safe(run)}/epoch-{int(epoch):03d}.pt"
            if checkpoints:
                source = Path(recorded) if Path(recorded).is_absolute() else root / recorded
                if not source.is_file():
                    raise StoreError(f"The file of checkpoint {run} epoch {epoch} ({source}) is "
                                     "gone; bundle with --no-checkpoints, or re-run the "
                                     "training job.")
                members[member] = source
            con.execute("UPDATE checkpoints SET path = ? WHERE run = ? AND epoch = ?",
                        [member, run, epoch])
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return members


def _database_name(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("SELECT current_database()").fetchone()[0]


def _inside(root: Path, recorded: str) -> Path:
    path = (root / recorded).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        raise StoreError(f"The store's data file {recorded} is missing or outside its folder; "
                         "re-run the job that made it before bundling.")
    return path


def _member_for(recorded: str, fallback: str) -> str:
    name = PurePosixPath(recorded).as_posix()
    return name if _MEMBER.match(name) else fallback


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+@,-]", "_", text) or "_"


# -- fetching -----------------------------------------------------------------------
FETCH_SCHEMES = ("https", "http", "file")


def fetch_bundle(url: str, out: Path, on_bytes: Callable[[int, int], None] | None = None,
                 timeout_s: float = 60.0) -> Path:
    """Download the bundle at ``url`` to ``out`` (atomically) and check that it opens.

    Called by ``vizkit fetch-bundle`` (which the app runs on a cold start when
    ``VIZKIT_BUNDLE_URL`` is set). The download stops at ``VIZKIT_BUNDLE_MAX_BYTES``;
    ``on_bytes(done, total)`` reports progress (total 0 when the server does not say).
    Returns ``out``; raises :class:`StoreError` saying what went wrong.
    """
    import urllib.error
    import urllib.parse
    import urllib.request

    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in FETCH_SCHEMES:
        raise StoreError(f"The bundle URL must be one of {', '.join(FETCH_SCHEMES)} "
                         f"(got {scheme or 'none'!r}).")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, \
                open(partial, "wb") as dst:
            total = int(response.headers.get("Content-Length") or 0)
            if total > MAX_TOTAL_BYTES:
                raise StoreError(f"The bundle at {url} is {total / 1e9:.1f} GB, over the "
                                 f"{MAX_TOTAL_BYTES / 1e9:.0f} GB limit.")
            done = 0
            while block := response.read(1 << 20):
                done += len(block)
                if done > MAX_TOTAL_BYTES:
                    raise StoreError(f"The bundle at {url} is over the "
                                     f"{MAX_TOTAL_BYTES / 1e9:.0f} GB limit.")
                dst.write(block)
                if on_bytes:
                    on_bytes(done, total)
        if not is_bundle(partial):
            raise StoreError(f"{url} is not a vizkit bundle (make one with `vizkit bundle`).")
        open_bundle(partial)  # validates the manifest and every file before it is published
        os.replace(partial, out)
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise StoreError(f"Could not fetch the bundle at {url} ({reason}).") from None
    finally:
        partial.unlink(missing_ok=True)
    return out


# -- opening ------------------------------------------------------------------------
def cache_root() -> Path:
    """Where bundles are unpacked: ``$VIZKIT_BUNDLE_CACHE`` or ``~/.cache/vizkit/bundles``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "vizkit" / "bundles"


_opened: dict[tuple, Path] = {}


def open_bundle(bundle: Path) -> Path:
    """The store file of ``bundle``, unpacked (once per content) into the cache folder.

    Called when a :class:`~vizkit.store.Store` is made for a bundle path. Raises
    :class:`StoreError` naming what is wrong with a damaged or hostile archive.
    """
    bundle = Path(bundle)
    stat = bundle.stat()
    memo = (str(bundle.resolve()), stat.st_size, stat.st_mtime_ns, str(cache_root()))
    if memo in _opened and _opened[memo].exists():
        return _opened[memo]
    digest = _describe(bundle)["sha256"]
    folder = Path(memo[3]) / digest[:32]
    try:
        if not (folder / STORE_NAME).is_file():
            _unpack(bundle, folder)
        (folder / LAST_USED).touch()
    except OSError as e:  # an unwritable or full cache folder
        raise StoreError(f"Cannot unpack {bundle} into {folder.parent} ({e}). Point "
                         f"{CACHE_ENV} at a folder you can write with room for it.") from None
    _opened[memo] = folder / STORE_NAME
    return folder / STORE_NAME


def cache_bytes() -> int:
    """How many bytes of unpacked bundles the cache keeps (``$VIZKIT_BUNDLE_CACHE_BYTES``,
    default 4 GiB); the least recently opened are evicted beyond it."""
    try:
        return max(0, int(os.environ.get(CACHE_BYTES_ENV, CACHE_BYTES)))
    except ValueError:
        raise StoreError(f"{CACHE_BYTES_ENV} must be a number of bytes (got "
                         f"{os.environ[CACHE_BYTES_ENV]!r}).") from None


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def _make_room(root: Path, needed: int, keep: Path) -> None:
    """Evict unpacked bundles, least recently opened first, until ``needed`` more bytes fit
    within :func:`cache_bytes` (``keep`` is never evicted)."""
    entries = []
    for folder in root.iterdir() if root.is_dir() else []:
        if folder.name.startswith(".") or folder == keep or not folder.is_dir():
            continue
        stamp = folder / LAST_USED
        used = stamp.stat().st_mtime if stamp.exists() else folder.stat().st_mtime
        entries.append((used, folder, _folder_bytes(folder)))
    total = sum(size for _, _, size in entries)
    for _, folder, size in sorted(entries, key=lambda e: e[0]):
        if total + needed <= cache_bytes():
            break
        shutil.rmtree(folder, ignore_errors=True)
        total -= size


def bundle_info(store_path: Path) -> dict | None:
    """The manifest of the bundle a store was unpacked from, or None for a plain store."""
    try:
        return json.loads((Path(store_path).parent / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _unpack(bundle: Path, folder: Path) -> None:
    try:
        zf = zipfile.ZipFile(bundle)
    except (zipfile.BadZipFile, OSError) as e:
        raise StoreError(f"{bundle} is not a readable vizkit bundle ({e}). Make it again "
                         "with `vizkit bundle --out FILE`.") from None
    with zf:
        manifest = _read_manifest(zf, bundle)
        folder.parent.mkdir(parents=True, exist_ok=True)
        _make_room(folder.parent, sum(m["bytes"] for m in manifest["files"].values()), folder)
        work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            for name, meta in manifest["files"].items():
                try:
                    _extract(zf, name, meta, work, bundle)
                except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as e:
                    raise StoreError(f"{bundle}: {name} cannot be read ({e}); the archive is "
                                     "damaged. Nothing was unpacked.") from None
            (work / MANIFEST).write_text(json.dumps(manifest))
            try:
                os.replace(work, folder)
            except OSError:  # another process unpacked it first
                if not (folder / STORE_NAME).is_file():
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _read_manifest(zf: zipfile.ZipFile, bundle: Path) -> dict:
    bad = f"{bundle} is not a vizkit bundle"
    try:
        info = zf.getinfo(MANIFEST)
    except KeyError:
        raise StoreError(f"{bad} (no {MANIFEST} in it).") from None
    if info.file_size > 16 << 20:
        raise StoreError(f"{bad} (its manifest is {info.file_size} bytes).")
    try:
        manifest = json.loads(zf.read(MANIFEST))
        files = manifest["files"]
        ok = (manifest.get("format") == FORMAT and isinstance(files, dict)
              and STORE_NAME in files and len(files) <= MAX_MEMBERS
              and all(isinstance(m, dict) and isinstance(m.get("bytes"), int)
                      and m["bytes"] >= 0 and isinstance(m.get("sha256"), str)
                      for m in files.values()))
    except (ValueError, KeyError, TypeError, AttributeError):
        ok = False
    if not ok:
        raise StoreError(f"{bad}, or one from another vizkit version (its manifest is not "
                         f"format {FORMAT}). Make it again with `vizkit bundle --out FILE`.")
    for name in files:
        if not _MEMBER.match(name) or ".." in name.split("/"):
            raise StoreError(f"{bundle} names a file {name!r} that a bundle may not hold; "
                             "nothing was unpacked.")
    total = sum(m["bytes"] for m in files.values())
    if total > MAX_TOTAL_BYTES:
        raise StoreError(f"{bundle} would unpack to {total / 1e9:.1f} GB, over the "
                         f"{MAX_TOTAL_BYTES / 1e9:.0f} GB limit (VIZKIT_BUNDLE_MAX_BYTES).")
    if total > cache_bytes():
        raise StoreError(f"{bundle} would unpack to {total / 1e9:.2f} GB, more than the "
                         f"bundle cache keeps ({cache_bytes() / 1e9:.2f} GB); nothing was "
                         f"unpacked. Raise {CACHE_BYTES_ENV} to unpack it.")
    return manifest


def _extract(zf: zipfile.ZipFile, name: str, meta: dict, work: Path, bundle: Path) -> None:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise StoreError(f"{bundle} is incomplete: {name} is missing. Make it again.") from None
    target = work / name
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, written = hashlib.sha256(), 0
    with zf.open(info) as src, open(target, "wb") as dst:
        while block := src.read(1 << 20):
            written += len(block)
            if written > meta["bytes"]:
                raise StoreError(f"{bundle}: {name} is larger than its manifest says; "
                                 "nothing was unpacked.")
            digest.update(block)
            dst.write(block)
    if written != meta["bytes"] or digest.hexdigest() != meta["sha256"]:
        raise StoreError(f"{bundle}: {name} does not match its manifest (damaged or altered "
                         "archive); nothing was unpacked.")
