"""A cold start: the app was deployed with no store (a fresh Community Cloud deployment, a
clean clone). The app says what it is doing and fills the store itself, once per server:

1. when ``VIZKIT_BUNDLE_URL`` (environment, or ``st.secrets``) is set: ``vizkit
   fetch-bundle`` downloads that bundle, which the app then serves (read-only);
2. otherwise, or when the bundle cannot be fetched: ``vizkit demo --quick``, the embedded
   demo reduced to fit a small hosted machine, in the background; its results appear on the
   pages as each is committed.

Both are ordinary background jobs (:mod:`vizkit.background`): one at a time, progress in a
status file, the same argument checks as the CLI. A banner on every page shows the progress
until the job ends.
"""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from vizkit import background
from vizkit.errors import VizkitError
from vizkit.paths import FETCHED_BUNDLE, data_dir, store_path

BUNDLE_URL_ENV = "VIZKIT_BUNDLE_URL"
FETCH_JOB, DEMO_JOB = "cold-start-bundle", "cold-start-demo"


def bundle_url() -> str | None:
    """``VIZKIT_BUNDLE_URL`` from the environment or the app's secrets, if set."""
    url = os.environ.get(BUNDLE_URL_ENV)
    if not url:
        try:
            url = st.secrets.get(BUNDLE_URL_ENV)
        except Exception:  # no secrets file (the common case), or a malformed one
            url = None
    return str(url).strip() or None if url else None


def _has_store(path: Path) -> bool:
    """Whether a store file is there (a zero-byte file, left by a killed creation, is not)."""
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def _jobs_home() -> Path:
    """The store path the cold-start jobs are filed under (their status and lock)."""
    return data_dir() / "vizkit.duckdb"


_started_here: set[str] = set()  # jobs this server process started (a restart retries)


def _start(name: str, argv: list[str]) -> None:
    try:
        background.start(_jobs_home(), name, argv, by_visitor=False)
        _started_here.add(name)
    except background.JobBusyError:
        pass  # another session started it a moment ago


def _next_job() -> str | None:
    """Start what a cold start needs next; return the job to follow (None: nothing to do)."""
    fetch = background.status(_jobs_home(), FETCH_JOB)
    demo = background.status(_jobs_home(), DEMO_JOB)
    if demo is not None:
        if demo.state == "failed" and DEMO_JOB not in _started_here:
            _start(DEMO_JOB, ["demo", "--quick"])  # failed under an earlier server: retry
        return DEMO_JOB
    if fetch is not None:
        if fetch.state == "failed":
            _start(DEMO_JOB, ["demo", "--quick"])
            return DEMO_JOB
        return FETCH_JOB
    if os.environ.get("VIZKIT_STORE") or _has_store(store_path()):
        return None  # a store was there before: not a cold start
    url = bundle_url()
    if url:
        _start(FETCH_JOB, ["fetch-bundle", url, "--out", str(data_dir() / FETCHED_BUNDLE)])
        return FETCH_JOB
    _start(DEMO_JOB, ["demo", "--quick"])
    return DEMO_JOB


def banner() -> None:
    """Called by ``streamlit_app.py`` before every page: on a cold start, start the job that
    fills the store and show its progress (refreshed every two seconds); afterwards, say
    nothing."""
    try:
        job = _next_job()
    except (VizkitError, OSError) as e:  # e.g. a data folder that cannot be written
        st.warning(f"The app has no store and could not start making one: {e}. Set "
                   "VIZKIT_DATA to a folder it can write, or VIZKIT_STORE to a store.")
        return
    if job is None or st.session_state.get(f"_coldstart_{job}_seen"):
        return
    _progress(job)


@st.fragment(run_every=2.0)
def _progress(job: str) -> None:
    status = background.status(_jobs_home(), job)
    if status is None:
        return
    fetch = background.status(_jobs_home(), FETCH_JOB)
    if job == DEMO_JOB and fetch is not None and fetch.state == "failed":
        st.caption(f"The bundle could not be fetched ({fetch.message}); building the demo "
                   "instead.")
    if status.state == "running":
        st.session_state[f"_coldstart_{job}_watched"] = True
        what = ("Fetching the store" if job == FETCH_JOB else
                "First start: building the demo (a small CNN trained on Fashion-MNIST, its "
                "search index, layouts and channel images). Pages fill in as results land")
        st.progress(status.fraction, text=f"{what} — {status.desc or 'starting'} "
                                          f"({status.done}/{status.total or '?'})")
    elif status.state == "failed":
        st.error(f"Building the store failed: {status.message}. Check the app's logs; "
                 "restarting the app tries again.")
    elif status.state == "done" and (job == DEMO_JOB or _has_store(store_path())):
        st.session_state[f"_coldstart_{job}_seen"] = True
        if st.session_state.get(f"_coldstart_{job}_watched"):
            st.rerun()  # the whole page once, now that the store is complete
