"""The store file itself: short-lived connections with retries, whole transactions, the
atomic creation of a new store, the schema version and its migrations, and the paths of the
files a store refers to. The tables are read and written by the mixins beside it
(datasets.py, results.py, per_image.py, runs.py), combined in db.Store."""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from vizkit.errors import ResultMissingError, StoreBusyError, StoreEmptyError, StoreError
from vizkit.files import process_alive
from vizkit.paths import store_path
from vizkit.store import bundle
from vizkit.store.attached import ATTACHMENTS, AttachedConnection, ReadersBusy
from vizkit.store.schema import DDL, META_TABLE, MIGRATIONS, SCHEMA_VERSION

LOCK_WAIT_S = 60.0


def now() -> datetime:
    """The time a row is written (UTC, naive: as the store's TIMESTAMP columns hold it)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _is_lock_error(e: Exception) -> bool:
    text = str(e).lower()
    return ("lock" in text or "conflicting" in text or "being used by another" in text
            or "file handle conflict" in text)  # another DuckDB instance of this process


def _is_permission_error(e: Exception) -> bool:
    text = str(e).lower()
    return ("permission denied" in text or "read-only file system" in text
            or "operation not permitted" in text)


def _rename_no_replace(src: Path, dst: Path) -> bool | None:
    """Move ``src`` to ``dst`` in one step unless ``dst`` exists (Linux's renameat2 with
    RENAME_NOREPLACE): True when moved, False when ``dst`` was there, None where the call is
    not available (another system, an older kernel or a file system without it)."""
    try:
        call = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError, TypeError):
        return None
    at_cwd, no_replace = -100, 1
    if call(at_cwd, os.fsencode(src), at_cwd, os.fsencode(dst), no_replace) == 0:
        return True
    err = ctypes.get_errno()
    if err == errno.EEXIST:
        return False
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return None
    raise OSError(err, os.strerror(err), str(dst))


def _publish(tmp: Path, path: Path) -> None:
    """Put the finished file ``tmp`` at ``path`` unless another process made one first (a
    zero-byte file there, left by a killed creation, is replaced): moved in one step where
    the system can, so a kill leaves either ``tmp`` or the store, never both; else linked
    into place (``tmp`` removed by the caller)."""
    moved = _rename_no_replace(tmp, path)
    if moved is not None:
        if not moved and path.stat().st_size == 0:
            os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        if path.stat().st_size == 0:
            os.replace(tmp, path)
    except OSError:  # a file system without hard links
        if not path.exists() or path.stat().st_size == 0:
            os.replace(tmp, path)


def _remove_stale_temporaries(path: Path) -> None:
    """Remove the temporary files of store creations whose process is gone."""
    for leftover in path.parent.glob(f".{path.name}.*.creating*"):
        pid = leftover.name.removeprefix(f".{path.name}.").split(".")[0]
        if pid.isdigit() and not process_alive(int(pid)):
            with contextlib.suppress(OSError):
                leftover.unlink()


class StoreFile:
    """The file under every table mixin: connections (read-only per query or shared by a
    held run of reads, retried while another process holds the lock), whole-transaction
    writes, atomic creation, the schema version and its migrations (the v5 one moves rows
    to files with ``ResultTables._move_rows_to_files``), and the paths of files the store
    records."""

    def __init__(self, path: str | Path | None = None, lock_wait_s: float = LOCK_WAIT_S):
        self.path = Path(path) if path else store_path()
        self.bundle: Path | None = None
        if self.path.suffix != ".duckdb" and bundle.is_bundle(self.path):
            self.bundle, self.path = self.path, bundle.open_bundle(self.path)
        self.lock_wait_s = lock_wait_s
        self._checked = False
        self._held = threading.local()  # this thread's shared read connection, see held()

    # -- connections ----------------------------------------------------------------
    def _connect(self, read_only: bool, path: Path | None = None) -> AttachedConnection:
        """A connection to the file (attached to this process's DuckDB instance: see
        :mod:`vizkit.store.attached`), retried while another process holds its lock."""
        path = path or self.path
        deadline = time.monotonic() + self.lock_wait_s
        delay = 0.02
        while True:
            try:
                return ATTACHMENTS.open(str(path), read_only,
                                        max(0.0, deadline - time.monotonic()))
            except ReadersBusy:
                raise StoreBusyError(
                    f"{path} stayed in use by reads of this process for {self.lock_wait_s:.0f}"
                    " s, so it could not be written; try again in a moment.") from None
            except (duckdb.IOException, duckdb.ConnectionException,
                    duckdb.ResourceInUseException) as e:
                if _is_permission_error(e):
                    raise self._unwritable(e) from None
                if not _is_lock_error(e):
                    raise StoreError(
                        f"{path} cannot be opened as a vizkit store: "
                        f"{str(e).splitlines()[0]}. If it is not a DuckDB file, move it aside "
                        "or point --store / VIZKIT_STORE elsewhere.") from None
                if time.monotonic() > deadline:
                    raise StoreBusyError(
                        f"{path} stayed locked by another process for "
                        f"{self.lock_wait_s:.0f} s. A job may be committing a large result; "
                        "try again in a moment.") from None
                time.sleep(delay)
                delay = min(delay * 1.5, 0.25)

    def _unwritable(self, error: BaseException) -> StoreError:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        return StoreError(f"Cannot write the store {self.path} ({first}). Make the file and "
                          f"its folder {self.path.parent} writable (an immutable file: "
                          "chattr -i), or point --store / VIZKIT_STORE at a file in a folder "
                          "you can write.")

    def exists(self) -> bool:
        """Whether the file is there (a zero-byte file, left by a killed creation, is not)."""
        try:
            return self.path.stat().st_size > 0
        except OSError:
            return False

    def ready(self) -> bool:
        """Whether the store exists and has been initialised (it may hold no rows yet)."""
        if not self.exists():
            return False
        try:
            with self.read():
                return True
        except StoreEmptyError:
            return False

    @contextmanager
    def held(self) -> Iterator[None]:
        """Within it, this thread's reads share one read-only connection instead of opening
        one each (each open attaches the file, ~1 ms, and the last close detaches it): for
        a job's run of catalog reads before it computes. A write in it closes that
        connection first (a file is attached either read-only or for writing). While it is
        open, other processes cannot write: hold it for a phase of reads, not for a
        computation."""
        depth = getattr(self._held, "depth", 0)
        self._held.depth = depth + 1
        try:
            yield
        finally:
            self._held.depth = depth
            if not depth:
                self._release_held()

    def _release_held(self) -> None:
        con, self._held.con = getattr(self._held, "con", None), None
        if con is not None:
            con.close()

    def _read_connection(self) -> duckdb.DuckDBPyConnection:
        """A new read-only connection, or a cursor on the held one (see :meth:`held`)."""
        if not getattr(self._held, "depth", 0):
            return self._connect(read_only=True)
        if getattr(self._held, "con", None) is None:
            self._held.con = self._connect(read_only=True)
        return self._held.con.cursor()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection (a cursor on the held one inside :meth:`held`), closed on
        exit. Raises if there is no store yet."""
        if not self.exists():
            raise ResultMissingError(
                f"There is no store at {self.path} yet. Run `vizkit demo` (no network needed) "
                "or `vizkit precompute ...` to make one.")
        con = self._read_connection()
        try:
            if not self._checked:
                self._check_schema(con)
            yield con
        except duckdb.IOException as e:
            raise self._damaged(e) from None
        finally:
            con.close()

    def _damaged(self, error: BaseException) -> StoreError:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        return StoreError(f"The store {self.path} is damaged ({first}): the file is shorter "
                          "than what it records, or was altered. Restore it from a copy, or "
                          "move it aside and run your jobs (or `vizkit demo`) again.")

    def _check_length(self, con) -> None:
        """A store file cut short (a copy that stopped half-way) is refused: DuckDB reads
        blocks only when a query needs them, so check the file holds every block in use."""
        wal = self.path.with_name(self.path.name + ".wal")
        if wal.exists() and wal.stat().st_size:  # blocks a log replays live in memory
            return
        block_size, used = con.execute(
            "SELECT block_size, used_blocks FROM pragma_database_size() "
            "WHERE database_name = current_database()").fetchone()
        needed = 3 * 4096 + int(used) * int(block_size)  # header blocks, then data blocks
        size = self.path.stat().st_size
        if size < needed:
            raise self._damaged(f"{size:,} bytes where its {used} blocks need {needed:,}")

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside one transaction: all of it is committed, or none of it —
        on a new or empty store its tables and version too, with the first result."""
        if self.bundle is not None:
            raise StoreError(f"{self.bundle} is a bundle, which is read-only: point --store / "
                             "VIZKIT_STORE at a .duckdb store to run jobs.")
        if not self.exists():
            self._create()
        self._release_held()
        con = self._connect(read_only=False)
        try:
            version = self._version(con)  # outside the transaction, which a failure aborts
            con.begin()
            try:
                self._init_or_check(con, version)
                yield con
                con.commit()
            except BaseException as e:
                with contextlib.suppress(duckdb.Error):
                    con.rollback()
                if isinstance(e, duckdb.Error) and _is_permission_error(e):
                    raise self._unwritable(e) from None
                if isinstance(e, duckdb.IOException):
                    raise StoreError(f"Writing the store {self.path} failed "
                                     f"({str(e).splitlines()[0]}); nothing was changed. Check "
                                     "the disk and its free space, then run again.") from None
                raise
        finally:
            con.close()

    def _create(self) -> None:
        """Make a new, initialised store at ``path`` atomically: built under a temporary
        name and linked into place, so no other process ever sees a half-made file."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise self._unwritable(e) from None
        _remove_stale_temporaries(self.path)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.creating")
        try:
            con = self._connect(read_only=False, path=tmp)
            try:
                version = self._version(con)
                con.begin()
                self._init_or_check(con, version)
                con.commit()
            finally:
                con.close()
            _publish(tmp, self.path)
        except OSError as e:
            raise self._unwritable(e) from None
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
                with contextlib.suppress(OSError):
                    leftover.unlink()

    # -- schema ---------------------------------------------------------------------
    def _version(self, con) -> int | None:
        """The schema version; None for a store with no tables (or one whose creation an
        older vizkit left half-done), -1 for a DuckDB file that is not a vizkit store."""
        try:  # the table first: listing the catalog costs ~15 ms on a new connection
            rows = con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'"
                               ).fetchall()
        except duckdb.CatalogException:  # (a failed statement aborts a transaction: see write)
            tables = con.execute("SELECT table_name FROM information_schema.tables "
                                 "WHERE table_catalog = current_database()").fetchall()
            return None if not tables else -1
        if not rows:
            return None
        text = rows[0][0]
        if not (isinstance(text, str) and text.isascii() and text.isdigit()):
            raise StoreError(f"{self.path} records the store schema version {text!r}, which "
                             "no vizkit writes: the file was edited or damaged. Restore it "
                             "from a copy, or move it aside and run your jobs (or `vizkit "
                             "demo`) again.")
        return int(text)

    def _check_schema(self, con) -> None:
        self._check_length(con)
        version = self._version(con)
        if version is None:
            raise StoreEmptyError(f"The store {self.path} holds no results yet. Run "
                                     "`vizkit demo` or `vizkit precompute ...` to fill it.")
        self._raise_if_incompatible(version)
        self._checked = True

    def _raise_if_incompatible(self, version: int) -> None:
        if version == -1:
            raise StoreError(f"{self.path} is a DuckDB database but not a vizkit store (it has "
                             "no vizkit_meta table). Point --store / VIZKIT_STORE at another "
                             "file; vizkit will not write into it.")
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer vizkit (store schema "
                             f"v{version}; this one reads v{SCHEMA_VERSION}). Upgrade vizkit "
                             "(pip install -U cnn-vizkit).")
        if version < SCHEMA_VERSION and version not in MIGRATIONS:
            raise StoreError(f"{self.path} was written by an older vizkit (store schema "
                             f"v{version}; this one needs v{SCHEMA_VERSION}) and cannot be "
                             "migrated. Move it aside and re-run your precompute jobs.")

    def _init_or_check(self, con, version: int | None) -> None:
        """Inside the caller's transaction: create the tables and version of a store that
        has none (``version`` None, read before the transaction began), or migrate an older
        one."""
        if version is not None and version >= 0:  # again inside the transaction: it is there
            version = self._version(con)
        if version is None:
            con.execute(DDL)
            con.execute(f"DELETE FROM {META_TABLE}")
            con.execute(f"INSERT INTO {META_TABLE} VALUES ('schema_version', ?), "
                        "('created_at', ?)", [str(SCHEMA_VERSION), now().isoformat()])
            version = SCHEMA_VERSION
        self._raise_if_incompatible(version)
        while version < SCHEMA_VERSION:
            for sql in MIGRATIONS[version]:
                con.execute(sql)
            version += 1
            if version == 5:
                self._move_rows_to_files(con)
            con.execute(f"UPDATE {META_TABLE} SET value = ? WHERE key = 'schema_version'",
                        [str(version)])
        self._checked = True

    # -- files the store refers to --------------------------------------------------
    def relative(self, path: str | Path) -> str:
        """How a file the store refers to (a checkpoint) is recorded: relative to the
        store's folder when it is inside it, so that the folder can move as a whole."""
        path = Path(path).absolute()
        try:
            return path.relative_to(self.path.parent.absolute()).as_posix()
        except ValueError:
            return str(path)

    def file(self, recorded: str) -> Path:
        """The file a recorded path names: relative to the store's folder (older stores
        recorded paths relative to the working folder, still found there)."""
        path = Path(recorded)
        if path.is_absolute():
            return path
        inside = self.path.parent / path
        return inside if inside.exists() or not path.exists() else path
