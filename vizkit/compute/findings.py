"""Findings from similarity maps, measured over many queries: how much of a map's positive
mass lies on the object, against chance, with seeded bootstrap intervals (paired when two
configurations answer the same queries)."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_SAMPLES = 2000


@functools.lru_cache(maxsize=256)
def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """``[n_out, n_in]``: how much of input pixel j each of ``n_out`` equal output cells
    covers, as a share of the cell (rows sum to 1); one array per size pair, read-only."""
    edges = np.arange(n_out + 1) * n_in / n_out
    lo, hi = edges[:-1, None], edges[1:, None]
    j = np.arange(n_in)[None, :]
    weights = np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0, None) / (hi - lo)
    weights.flags.writeable = False
    return weights


def region_on_grid(mask: np.ndarray, crop_box: tuple[int, int, int, int],
                   grid: tuple[int, int]) -> np.ndarray:
    """The share of each map cell ``[h, w]`` that a boolean image mask covers, after the
    model's centre crop ``crop_box`` (top, left, height, width in the image's pixels) and
    its resize: each cell's exact area average of the cropped mask."""
    top, left, ch, cw = crop_box
    sub = np.asarray(mask[top: top + ch, left: left + cw], np.float64)
    h, w = grid
    return (_area_weights(sub.shape[0], h) @ sub @ _area_weights(sub.shape[1], w).T).clip(0, 1)


GRID_PIXELS = 1 << 22  # image pixels carried to the map grid at once (32 MB as float64)


def regions_on_grid(masks: list[np.ndarray | None], crop_box, grid: tuple[int, int]
                    ) -> list[np.ndarray | None]:
    """:func:`region_on_grid` of many masks (None stays None), those of one size in one
    product per batch of at most :data:`GRID_PIXELS` pixels; ``crop_box(h, w)`` gives each
    size's crop."""
    out: list[np.ndarray | None] = [None] * len(masks)
    by_shape: dict[tuple, list[int]] = {}
    for i, m in enumerate(masks):
        if m is not None:
            by_shape.setdefault(m.shape[:2], []).append(i)
    for (h0, w0), where in by_shape.items():
        top, left, ch, cw = crop_box(h0, w0)
        to_rows, to_cols = _area_weights(ch, grid[0]), _area_weights(cw, grid[1]).T
        step = max(1, GRID_PIXELS // (ch * cw))
        for lo in range(0, len(where), step):
            batch = where[lo: lo + step]
            stack = np.stack([masks[i][top: top + ch, left: left + cw] for i in batch])
            cells = (to_rows @ stack.astype(np.float64) @ to_cols).clip(0, 1)  # batched
            for i, c in zip(batch, cells):                            # matmuls: 10x an einsum
                out[i] = c
    return out


def disc_mask(size: tuple[int, int], point: tuple[float, float], radius: float) -> np.ndarray:
    """The pixels of an image of ``size`` (height, width) whose centres lie within
    ``radius`` of ``point`` (x, y; pixel ``i`` spans ``[i, i + 1)``): a part as a disc."""
    h, w = size
    x, y = point
    yy, xx = np.ogrid[:h, :w]
    return (xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2 <= radius ** 2


def discs_on_grid(points: list, sizes: list, names, radius: float, crop_box,
                  grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Each image's named parts (``points``: per image ``{part: (x, y)}`` or None, images of
    ``sizes``) as :func:`disc_mask` discs of ``radius`` × the short side, carried onto
    ``grid`` as :func:`region_on_grid` carries them: the covers ``[N, P, h*w]`` of parts
    ``names`` and which are visible ``[N, P]``. The discs of one image size are drawn
    and carried together, in batches of at most :data:`GRID_PIXELS` pixels."""
    column = {name: j for j, name in enumerate(names)}
    covers = np.zeros((len(points), len(names), grid[0] * grid[1]))
    visible = np.zeros((len(points), len(names)), bool)
    by_size: dict[tuple, list[tuple]] = {}
    for i, (parts, size) in enumerate(zip(points, sizes)):
        for part, (x, y) in (parts or {}).items():
            if part in column:
                by_size.setdefault(tuple(size), []).append((i, column[part], x, y))
    for (h, w), rows in by_size.items():
        top, left, ch, cw = crop_box(h, w)
        yy = np.arange(top, top + ch)[None, :, None] + 0.5  # pixel centres in the crop
        xx = np.arange(left, left + cw)[None, None, :] + 0.5
        to_rows, to_cols = _area_weights(ch, grid[0]), _area_weights(cw, grid[1]).T
        step = max(1, GRID_PIXELS // (ch * cw))
        for lo in range(0, len(rows), step):
            image, col, x, y = (np.array(v) for v in zip(*rows[lo: lo + step]))
            inside = (xx - x[:, None, None]) ** 2 + (yy - y[:, None, None]) ** 2 \
                <= (radius * min(h, w)) ** 2
            cells = (to_rows @ inside.astype(np.float64) @ to_cols).clip(0, 1)
            covers[image, col] = cells.reshape(len(image), -1)
            visible[image, col] = True
    return covers, visible


def part_ratio(values: np.ndarray, cover: np.ndarray) -> float:
    """How strongly a map's positive part (what adds to the similarity) lies on a part:
    its mean over the cells the part's disc covers (weighted by the covered share) ÷ its
    mean over the whole map. 1 is chance; NaN when the map has no positive mass or the
    disc falls outside what the model sees (the crop)."""
    positive = np.clip(values, 0, None)
    mean, covered = positive.mean(), cover.sum()
    if mean <= 0 or covered <= 0:
        return float("nan")
    return float((positive * cover).sum() / covered / mean)


def positive_shares(values: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """:func:`positive_share` of each map of a stack ``[n, h, w]`` against its region
    (same shape), in one pass."""
    positive = np.clip(values, 0, None)
    total = positive.sum(axis=(1, 2))
    on = (positive * regions).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, on / total, np.nan)


def part_ratios(values: np.ndarray, covers: np.ndarray) -> np.ndarray:
    """:func:`part_ratio` of each map of a stack ``[n, h, w]`` against its part's cover,
    in one pass."""
    positive = np.clip(values, 0, None)
    mean, covered = positive.mean(axis=(1, 2)), covers.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((mean > 0) & (covered > 0),
                        (positive * covers).sum(axis=(1, 2)) / covered / mean, np.nan)


def _nanmean(values: np.ndarray, axis: int) -> np.ndarray:
    """The mean over ``axis`` ignoring NaN; NaN where all are."""
    count = (~np.isnan(values)).sum(axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.nansum(values, axis) / count, np.nan)


def query_object_shares(mq: np.ndarray, mr: np.ndarray, cells: np.ndarray,
                        has: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query of a batch, the mean :func:`positive_share` of its pairs' maps (query side
    against the query's region, result side against each result's) and the mean share of
    the image the regions cover (chance), over the maps whose image has a region.
    ``mq``, ``mr``: ``[B, k, n]`` maps; ``cells``: ``[B, 1 + k, n]`` regions (the query's
    first); ``has``: ``[B, 1 + k]`` which images have one."""
    pq, pr = np.clip(mq, 0, None), np.clip(mr, 0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        on_q = np.einsum("bkn,bn->bk", pq, cells[:, 0]) / pq.sum(2)
        on_r = np.einsum("bkn,bkn->bk", pr, cells[:, 1:]) / pr.sum(2)
    k = mq.shape[1]
    valid = np.concatenate([np.repeat(has[:, :1], k, 1), has[:, 1:]], 1)
    shares = np.where(valid, np.concatenate([on_q, on_r], 1), np.nan)
    area = cells.mean(2)
    areas = np.where(valid, np.concatenate([np.repeat(area[:, :1], k, 1), area[:, 1:]], 1),
                     np.nan)
    return _nanmean(shares, 1), _nanmean(areas, 1)


def query_part_ratios(mq: np.ndarray, mr: np.ndarray, covers: np.ndarray,
                      visible: np.ndarray) -> np.ndarray:
    """Per query of a batch and per part, the mean :func:`part_ratio` of its pairs' maps
    (query side against the query's part disc, result side against each result's) over the
    maps whose image shows the part: ``[B, P]``. ``covers``: ``[B, 1 + k, P, n]`` discs (the
    query's first); ``visible``: ``[B, 1 + k, P]``."""
    pq, pr = np.clip(mq, 0, None), np.clip(mr, 0, None)
    k = mq.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_q, mean_r = pq.mean(2), pr.mean(2)                               # [B, k]
        covered_q, covered_r = covers[:, 0].sum(2), covers[:, 1:].sum(3)      # [B, P], [B, k, P]
        ratio_q = np.einsum("bkn,bpn->bkp", pq, covers[:, 0]) / covered_q[:, None] \
            / mean_q[..., None]
        ratio_r = np.einsum("bkn,bkpn->bkp", pr, covers[:, 1:]) / covered_r / mean_r[..., None]
    ratio_q = np.where((mean_q[..., None] > 0) & (covered_q[:, None] > 0), ratio_q, np.nan)
    ratio_r = np.where((mean_r[..., None] > 0) & (covered_r > 0), ratio_r, np.nan)
    valid = np.concatenate([np.repeat(visible[:, :1], k, 1), visible[:, 1:]], 1)
    ratios = np.where(valid, np.concatenate([ratio_q, ratio_r], 1), np.nan)  # [B, 2k, P]
    return _nanmean(ratios, 1)


def positive_share(values: np.ndarray, region: np.ndarray) -> float:
    """The share of a map's positive mass (cells that add to the similarity) that lies in
    ``region`` (each cell's covered share, same shape); NaN for a map with none."""
    positive = np.clip(values, 0, None)
    total = positive.sum()
    return float((positive * region).sum() / total) if total > 0 else float("nan")


def bootstrap_ci(values: np.ndarray, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES,
                 level: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean of ``values`` (NaN ignored), from
    ``samples`` resamples drawn with ``seed``: the same numbers give the same interval."""
    values = np.asarray(values, np.float64)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (samples, len(values)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def paired_diff_ci(a: np.ndarray, b: np.ndarray, seed: int = 0,
                   samples: int = BOOTSTRAP_SAMPLES) -> tuple[float, float]:
    """The bootstrap interval of mean(a - b) over the queries both answered, resampling
    queries (pairs stay together)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    keep = ~(np.isnan(a) | np.isnan(b))
    return bootstrap_ci(a[keep] - b[keep], seed, samples)


def ratio_summary(values: np.ndarray, seed: int = 0) -> dict:
    """Mean (NaN ignored), its seeded bootstrap interval and how many values it rests on."""
    values = np.asarray(values, np.float64)
    n = int((~np.isnan(values)).sum())
    if not n:
        return {"ratio": float("nan"), "ci95": [float("nan")] * 2, "n": 0}
    lo, hi = bootstrap_ci(values, seed)
    return {"ratio": round(float(np.nanmean(values)), 4), "ci95": [round(lo, 4), round(hi, 4)],
            "n": n}


@dataclass(frozen=True)
class PartRatios:
    """Per query and part: the mean :func:`part_ratio` over the query's pairs (query side
    and result side, where the part is visible); NaN where it never is."""

    idx: np.ndarray  # query image indices
    parts: tuple[str, ...]
    ratio: np.ndarray  # [n, parts]

    def summary(self, seed: int = 0) -> dict:
        """``{"parts": {name: {"ratio", "ci95", "n"}}}``: over the queries where the part
        was seen (``n`` of them), with the seeded bootstrap interval of the mean."""
        return {"parts": {name: ratio_summary(self.ratio[:, j], seed)
                          for j, name in enumerate(self.parts)}}


@dataclass(frozen=True)
class ObjectShares:
    """Per query: the mean share of positive map mass on the object over its results' maps
    (query side and result side), and the mean share of the image area the object covers
    in the same maps (chance)."""

    idx: np.ndarray  # query image indices
    labels: np.ndarray  # their classes
    share: np.ndarray  # [n] positive mass on the object
    area: np.ndarray  # [n] the object's share of the area

    def summary(self, classes: list[str], seed: int = 0) -> dict:
        """The finding's numbers: object_share, area_share, ci95, n_queries, per_class."""
        ok = ~np.isnan(self.share)
        lo, hi = bootstrap_ci(self.share, seed)
        per_class = {classes[c]: round(float(np.nanmean(self.share[self.labels == c])), 4)
                     for c in np.unique(self.labels[ok]) if 0 <= c < len(classes)}
        return {"object_share": round(float(np.nanmean(self.share)), 4),
                "area_share": round(float(np.nanmean(self.area)), 4),
                "ci95": [round(lo, 4), round(hi, 4)], "n_queries": int(ok.sum()),
                "per_class": per_class}
