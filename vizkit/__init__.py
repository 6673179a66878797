"""vizkit: see what CNN image models learn.

Plugins write ``from vizkit import hookimpl`` and implement the hooks in
:mod:`vizkit.hookspecs`; the types they register are exported here too
(``from vizkit import Metric, DatasetEntry, ...``), imported when first used so that
``import vizkit`` stays light.
"""
from vizkit.hookspecs import hookimpl

__version__ = "0.1.0"

_EXPORTS = {
    "Batch": "vizkit.api.datasets", "Dataset": "vizkit.api.datasets",
    "ArrayDataset": "vizkit.api.datasets", "FileListDataset": "vizkit.api.datasets",
    "DatasetEntry": "vizkit.api.datasets",
    "ModelProvider": "vizkit.api.models", "LoadedModel": "vizkit.runtime.loaded",
    "Metric": "vizkit.api.metrics", "Loss": "vizkit.api.losses",
    "Visualizer": "vizkit.api.visualizers", "Command": "vizkit.api.commands",
    "Index": "vizkit.api.indexes", "Explainer": "vizkit.api.explainers",
}
__all__ = ["hookimpl", "__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vizkit' has no attribute {name!r}")
