"""Progress bars for jobs: tqdm on the terminal and, when the job was started by the app
(``VIZKIT_PROGRESS_FILE`` set), the same progress written to a small JSON file the app
polls to draw its own bar."""
from __future__ import annotations

import json
import os
import time

from tqdm.auto import tqdm

PROGRESS_ENV = "VIZKIT_PROGRESS_FILE"


def write_status(path: str, **status) -> None:
    """Replace the JSON status file at ``path`` atomically."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        json.dump(dict(status, updated=time.time()), fh)
    os.replace(tmp, path)


class bar(tqdm):  # noqa: N801 - used like tqdm
    """``tqdm`` that also reports to ``$VIZKIT_PROGRESS_FILE`` (at most twice a second)."""

    def __init__(self, *args, **kwargs):
        self._status_file = os.environ.get(PROGRESS_ENV)
        self._last_write = 0.0
        super().__init__(*args, **kwargs)
        self._report(force=True)

    def update(self, n=1):
        out = super().update(n)
        self._report()
        return out

    def close(self):
        self._report(force=True)
        super().close()

    def _report(self, force: bool = False) -> None:
        if getattr(self, "disable", True) or not self._status_file:
            return
        if not force and time.monotonic() - self._last_write < 0.5:
            return
        self._last_write = time.monotonic()
        try:
            write_status(self._status_file, state="running", desc=getattr(self, "desc", ""),
                         done=int(self.n), total=int(self.total or 0))
        except OSError:
            pass  # progress is a courtesy; the job goes on
