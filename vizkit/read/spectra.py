"""The spectrum page's reads: the PCA of a stored embedding and Recall@1 as its directions
are dropped, each computed once per stored result."""
from __future__ import annotations

from vizkit.compute.spectrum import Spectrum, recall_after_truncation, spectrum
from vizkit.read.catalog import Reader
from vizkit.read.rows import FeaturesRow


def spectrum_of(reader: Reader, frow: FeaturesRow) -> Spectrum:
    """PCA of ``frow``'s matrix."""
    return reader.memo("spectrum", frow.result_key,
                       lambda: spectrum(reader.matrix(frow.result_key)), keep=16)


def truncated_recall(reader: Reader, frow: FeaturesRow) -> dict[int, float]:
    """Leave-one-out cosine Recall@1 of ``frow``'s images after keeping the top-k principal
    directions, k = d, d/2, ..., 1."""
    from vizkit.registry import get_registry

    def make():
        labels = reader.images(frow.dataset).labels
        return recall_after_truncation(reader.matrix(frow.result_key), labels,
                                       get_registry().metric("cosine"))
    return reader.memo("truncated recall", frow.result_key, make, keep=32)
