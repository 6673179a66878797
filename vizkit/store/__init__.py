"""The DuckDB store: every precomputed result, keyed by everything that determines it.

Concurrency (DuckDB locks a file for one process at a time, readers included): no process
keeps the file open. Readers open it read-only per query (~20 ms; a job's run of reads
before it computes shares one, ``Store.held``) and retry while a writer commits; jobs do
their long work outside the file (``staging/`` parts that make them resumable) and open it
only to commit a finished result in one transaction.
"""
from vizkit.store.db import Store

__all__ = ["Store"]
