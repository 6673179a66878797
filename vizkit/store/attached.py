"""Store files attached to one DuckDB instance per process while connections use them.

``duckdb.connect(path)`` starts a new database instance, and DuckDB builds its catalog of
built-in functions for every instance: ~14 ms, most of what a short read or a job's catalog
write costs. Attaching a file to an instance that already runs costs ~1 ms. So each process
keeps one in-memory instance, and a store file is attached to it while any connection of
the process uses it — read-only while only readers do, read-write for a writer — and
detached (its lock released, its log checkpointed) when the last one closes. Other
processes can write the file between uses, as with short-lived connections of their own.

Within the process, readers share a file's attachment and join a writer's (seeing what is
committed), and a writer waits until the readers of a read-only attachment have finished.
Each connection handed out is a cursor of the instance whose default database is the file.
"""
from __future__ import annotations

import itertools
import os
import threading
import time
from dataclasses import dataclass

import duckdb


class ReadersBusy(Exception):
    """A writer waited its whole deadline for this process's readers of the file."""


@dataclass
class _Attachment:
    alias: str
    read_only: bool
    users: int = 0


class AttachedConnection:
    """A DuckDB connection (a cursor of the shared instance) on one attached file; every
    attribute but :meth:`cursor` and :meth:`close` is the cursor's."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, alias: str, release):
        self._cursor, self._alias, self._release = cursor, alias, release

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """Another connection to the same file, for the time this one is open."""
        cursor = self._cursor.cursor()
        cursor.execute(f'USE "{self._alias}"')
        return cursor

    def close(self) -> None:
        """Close the cursor; the file is detached when no connection uses it any more."""
        if self._release is not None:
            release, self._release = self._release, None
            try:
                self._cursor.close()
            finally:
                release()

    def __getattr__(self, name: str):
        return getattr(self._cursor, name)


class Attachments:
    """This process's instance and the files attached to it (see the module's text)."""

    def __init__(self):
        self._changed = threading.Condition()
        self._instance: duckdb.DuckDBPyConnection | None = None
        self._pid = -1
        self._files: dict[str, _Attachment] = {}
        self._names = itertools.count()

    def _base(self) -> duckdb.DuckDBPyConnection:
        """This process's instance, started on first use (a forked child starts its own:
        the parent's, copied with the fork, is not its to use)."""
        if self._pid != os.getpid():
            self._instance, self._pid = duckdb.connect(":memory:"), os.getpid()
            self._files = {}
        return self._instance

    def open(self, path: str, read_only: bool, wait_s: float) -> AttachedConnection:
        """A connection to the DuckDB file ``path``, attaching it unless this process has
        it attached already. Raises DuckDB's errors of ``ATTACH`` (another process's lock,
        a file that is not a database), and :class:`ReadersBusy` when a writer waited
        ``wait_s`` for this process's readers."""
        deadline, key = time.monotonic() + wait_s, os.path.realpath(path)
        with self._changed:
            base = self._base()
            while (held := self._files.get(key)) is not None and held.read_only \
                    and not read_only:
                if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    raise ReadersBusy(path)
            if held is None:
                held = _Attachment(f"vizkit_store_{next(self._names)}", read_only)
                base.execute(f'ATTACH ? AS "{held.alias}"'
                             + (" (READ_ONLY)" if read_only else ""), [path])
                self._files[key] = held
            held.users += 1
            try:
                cursor = base.cursor()
                cursor.execute(f'USE "{held.alias}"')
            except BaseException:
                self._let_go(key, held)
                raise
        return AttachedConnection(cursor, held.alias, lambda: self._release(key, held))

    def _release(self, key: str, held: _Attachment) -> None:
        with self._changed:
            self._let_go(key, held)

    def _let_go(self, key: str, held: _Attachment) -> None:
        held.users -= 1
        if held.users == 0 and self._files.get(key) is held:
            del self._files[key]
            try:
                self._base().execute(f'DETACH "{held.alias}"')
            finally:
                self._changed.notify_all()


ATTACHMENTS = Attachments()
