"""Computation: arrays, tensors and models in, results out. Nothing here opens the store
or asks the registry; callers pass metrics, models and data in."""
