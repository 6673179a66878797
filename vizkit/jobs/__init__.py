"""Batch jobs (CLI commands): they compute results and commit them to the store."""
