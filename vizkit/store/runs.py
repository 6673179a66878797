"""Training runs: their settings, a checkpoint row per epoch, the triplet anchors."""
from __future__ import annotations

import json

import pandas as pd

from vizkit.store.connection import StoreFile, now


class RunTables(StoreFile):
    """Runs, checkpoints and anchors."""

    def put_run(self, run: str, model: str, dataset_key: str, config: dict) -> None:
        with self.write() as con:
            con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        [run, model, dataset_key, json.dumps(config), now()])

    def put_checkpoint(self, run: str, epoch: int, path: str, sha256: str, weights_fp: str,
                       metrics: dict) -> None:
        with self.write() as con:
            con.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [run, epoch, path, sha256, weights_fp, json.dumps(metrics), now()])

    def put_anchors(self, run: str, epoch: int, split: str, rows: pd.DataFrame) -> None:
        """Replace the anchors of (run, epoch, split): columns idx, pos_idx, pos_sim,
        neg_idx, neg_sim (indices into that split's evaluation images)."""
        data = rows.assign(run=run, epoch=epoch, split=split)[
            ["run", "epoch", "split", "idx", "pos_idx", "pos_sim", "neg_idx", "neg_sim"]]
        with self.write() as con:
            con.execute("DELETE FROM anchors WHERE run = ? AND epoch = ? AND split = ?",
                        [run, epoch, split])
            con.register("new_rows", data)
            con.execute("INSERT INTO anchors SELECT * FROM new_rows")

    def anchors(self, runs: list[str]) -> pd.DataFrame:
        """Every stored anchor row of ``runs`` (empty before schema v4)."""
        with self.read() as con:
            if self._version(con) < 4 or not runs:
                return pd.DataFrame(columns=["run", "epoch", "split", "idx", "pos_idx",
                                             "pos_sim", "neg_idx", "neg_sim"])
            return con.execute("SELECT * FROM anchors WHERE list_contains(?, run) "
                               "ORDER BY run, epoch, split, idx", [runs]).df()

    def runs(self) -> pd.DataFrame:
        with self.read() as con:
            return con.execute("SELECT * FROM runs ORDER BY created_at").df()

    def checkpoints(self, run: str | None = None) -> pd.DataFrame:
        with self.read() as con:
            sql, args = "SELECT * FROM checkpoints", []
            if run:
                sql, args = sql + " WHERE run = ?", [run]
            return con.execute(sql + " ORDER BY run, epoch", args).df()
