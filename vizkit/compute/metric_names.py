"""The names of the retrieval metrics a training run stores per checkpoint (light to import:
the pages that chart them need no torch)."""
from __future__ import annotations

RECALL_KS = (1, 2, 4, 8)
LARGE_RECALL_KS = (1, 10, 100, 1000)  # Stanford Online Products' convention
METRIC_NAMES = [f"recall_at_{k}" for k in sorted({*RECALL_KS, *LARGE_RECALL_KS})] + \
    ["map_at_r", "nmi"]
