"""The runtime: a model as vizkit runs it (``LoadedModel``: preprocessing, layers,
activations, pieces that fit the device's memory), the devices it runs on, and model loading
(a name with weights, a weights file, or a checkpoint the store records, each checked).
Below both the jobs and the read side; above the plugin types of ``vizkit.api``."""
