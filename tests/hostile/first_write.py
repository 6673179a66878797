"""Run as a script: write one large features result into a store (its first write when the
store is new), after saying "ready". The kill test SIGKILLs it at random moments."""
import sys

import numpy as np

from vizkit.store import Store

store = Store(sys.argv[1])
matrix = np.arange(int(sys.argv[2]) * 64, dtype=np.float32).reshape(-1, 64)
print("ready", flush=True)
store.put_features({"result_key": "f-first", "dataset_key": "d#1", "layer": "l"}, matrix)
print("done", flush=True)
