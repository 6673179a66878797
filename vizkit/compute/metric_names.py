"""The names of the retrieval metrics a training run stores per checkpoint (light to import:
the pages that chart them need no torch)."""
from __future__ import annotations

RECALL_KS = (1, 2, 4, 8)
METRIC_NAMES = [f"recall_at_{k}" for k in RECALL_KS] + ["map_at_r", "nmi"]
