"""Jobs the app starts for a visitor: a ``vizkit`` command run in its own process, one at a
time per store, its progress read back from a status file.

Pages never compute heavy results nor write the store; when a visitor asks for work (render a
channel, build the demo on a cold start), the page calls :func:`start` and then polls
:func:`status`. The job is the ordinary CLI command, so it is bounded by the same argument
checks, resumable, and writes the store the way every job does. A hosted app started with
``VIZKIT_READ_ONLY=1`` offers no such controls (:func:`vizkit.paths.read_only`).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vizkit.errors import VizkitError
from vizkit.files import process_alive
from vizkit.paths import read_only
from vizkit.progress import PROGRESS_ENV

_processes: dict[str, subprocess.Popen] = {}


class JobBusyError(VizkitError):
    """Another background job is running on this store."""


@dataclass(frozen=True)
class JobStatus:
    """Where a background job stands: ``state`` is running, done or failed; ``done`` of
    ``total`` steps of its current ``desc``; ``message`` says why it failed."""

    name: str
    state: str
    desc: str = ""
    done: int = 0
    total: int = 0
    message: str = ""

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


def _folder(store_path: Path) -> Path:
    return store_path.parent / ".jobs"


def _lock(store_path: Path) -> Path:
    return _folder(store_path) / f"{store_path.name}.running"


def running(store_path: Path) -> str | None:
    """The name of the job running on this store, or None."""
    try:
        info = json.loads(_lock(store_path).read_text())
    except (OSError, ValueError):
        return None
    pid = info.get("pid", -1)
    for proc in _processes.values():  # a child of this process: ask it, not the pid table
        if proc.pid == pid:
            return info.get("name") if proc.poll() is None else None
    return info.get("name") if _alive(pid) else None


def start(store_path: Path, name: str, argv: list[str], by_visitor: bool = True) -> None:
    """Run ``vizkit --store STORE *argv`` in the background as job ``name``. Raises
    :class:`JobBusyError` while another job runs on the store. A read-only app refuses
    jobs a visitor asks for; ``by_visitor=False`` is the app's own cold start, one bounded
    job per server."""
    if read_only() and by_visitor:
        raise VizkitError("This app is read-only (VIZKIT_READ_ONLY): it starts no jobs.")
    busy = running(store_path)
    if busy:
        raise JobBusyError(f"The job '{busy}' is running on this store; wait for it to finish.")
    folder = _folder(store_path)
    folder.mkdir(parents=True, exist_ok=True)
    status_file, log = folder / f"{name}.json", folder / f"{name}.log"
    _write(status_file, {"state": "running", "desc": "starting", "done": 0, "total": 0})
    env = dict(os.environ, **{PROGRESS_ENV: str(status_file)})
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "vizkit.cli", "--store", str(store_path),
                                 *argv], env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    _processes[f"{store_path}:{name}"] = proc
    _write(_lock(store_path), {"pid": proc.pid, "name": name, "started": time.time()})


def status(store_path: Path, name: str) -> JobStatus | None:
    """The last status of job ``name`` on this store (None if it never ran here)."""
    folder = _folder(store_path)
    try:
        info = json.loads((folder / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    state = info.get("state", "running")
    proc = _processes.get(f"{store_path}:{name}")
    if state == "running" and proc is not None and proc.poll() is not None:
        state = "done" if proc.returncode == 0 else "failed"
    elif state == "running" and proc is None and running(store_path) != name:
        state = "failed"  # its process is gone without a word (killed, or the app restarted)
    message = info.get("message", "")
    if state == "failed" and not message:
        message = _last_line(folder / f"{name}.log")
    return JobStatus(name, state, info.get("desc", ""), int(info.get("done", 0)),
                     int(info.get("total", 0)), message)


def finish(status_file: str, code: int, message: str = "") -> None:
    """Called by the CLI as a job ends: its final state in the status file."""
    try:
        _write(Path(status_file), {"state": "done" if code == 0 else "failed",
                                   "message": message, "done": 1, "total": 1})
    except OSError:
        pass


def _write(path: Path, info: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(dict(info, updated=time.time())))
    os.replace(tmp, path)


def _last_line(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][-500:] if lines else ""


def _alive(pid: int) -> bool:
    return pid > 0 and process_alive(pid)
