"""Rendering the atlas's tile pyramid into packs: files of WebP tiles, each with an index
(tile number, offset, length), written atomically into a staging folder so that a killed
job keeps every finished pack and renders only the rest when run again.

A pack is the unit of work: at most :data:`TILES_PER_PACK` tiles of one level. The driver
reads the thumbnails a pack needs from the store (one query) and renders it here, or hands
both to a Ray task (``--engine ray``): rendering needs no store, no model, no dataset."""
from __future__ import annotations

import io
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vizkit.compute.atlas import TileContent, compose_tile

TILES_PER_PACK = 2048
KEEP_DECODED = 300_000  # decoded thumbnails kept across levels (~2.7 kB each at 30 px)
# lossy WebP with alpha: a quarter of a PNG tile's bytes (a 70,000-image pyramid in ~20 MB
# instead of ~90), decoded by every current browser; deterministic, so a resumed job
# writes the same bytes
TILE_FORMAT = {"format": "WEBP", "quality": 80, "method": 2}


@dataclass(frozen=True)
class PackJob:
    """One pack to render: its name (``L<level>-<n>``) and its tiles' contents."""

    name: str
    level: int
    tiles: list[TileContent]

    def images(self) -> list[int]:
        """The images its tiles show (each once)."""
        return sorted({int(i) for t in self.tiles for i in t.images.tolist()})


def pack_jobs(level: int, tiles: list[TileContent]) -> list[PackJob]:
    """A level's tiles cut into packs."""
    return [PackJob(f"L{level}-{i // TILES_PER_PACK}", level, tiles[i:i + TILES_PER_PACK])
            for i in range(0, len(tiles), TILES_PER_PACK)]


def small_thumbnail(png: bytes, side: int) -> np.ndarray:
    """A stored thumbnail decoded to RGB and shrunk to fit ``side`` pixels (its longer side;
    never enlarged beyond twice its size, so a tiny image stays a crisp block)."""
    with Image.open(io.BytesIO(png)) as img:
        img = img.convert("RGB")
        w, h = img.size
        scale = side / max(w, h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        if size != (w, h):
            resample = Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.BILINEAR
            img = img.resize(size, resample)
        return np.asarray(img)


def render_pack(job: PackJob, thumbnails: dict[int, bytes], cells: int, cell_px: int,
                gap: int = 2) -> tuple[bytes, np.ndarray]:
    """The pack's bytes (its tiles' WebP images one after another) and index ``[n, 3]`` int64:
    tile number within the level (``y * 2**level + x``), offset, length. ``thumbnails``: the
    stored PNG thumbnails of its images."""
    side = cell_px - gap
    return compose_pack(job, {i: small_thumbnail(thumbnails[i], side) for i in job.images()},
                        cells, cell_px, gap)


def compose_pack(job: PackJob, thumbs: dict[int, np.ndarray], cells: int, cell_px: int,
                 gap: int = 2) -> tuple[bytes, np.ndarray]:
    """:func:`render_pack` from thumbnails already decoded and shrunk. Tiles are composed
    and encoded on a few threads (the WebP encoder releases the GIL: half the time on 2
    cores, the same bytes), written in the pack's order."""
    def encode(tile: TileContent) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(compose_tile(tile, thumbs, cells, cell_px, gap), "RGBA").save(
            buf, **TILE_FORMAT)
        return buf.getvalue()

    out, index, offset = io.BytesIO(), [], 0
    with ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
        for tile, data in zip(job.tiles, pool.map(encode, job.tiles)):
            out.write(data)
            index.append((tile.y * 2 ** tile.level + tile.x, offset, len(data)))
            offset += len(data)
    return out.getvalue(), np.asarray(index, np.int64).reshape(-1, 3)


def staged(staging: Path, name: str) -> tuple[Path, Path]:
    """The pack file and index file of pack ``name`` in ``staging``."""
    return staging / f"{name}.tiles", staging / f"{name}.index.npy"


def is_staged(staging: Path, name: str) -> bool:
    """Whether pack ``name`` was finished by an earlier run (its index, written last, is
    there)."""
    return all(p.exists() for p in staged(staging, name))


def stage_pack(staging: Path, name: str, data: bytes, index: np.ndarray) -> None:
    """Write a rendered pack atomically: its tiles, then its index (its presence marks the
    pack finished)."""
    staging.mkdir(parents=True, exist_ok=True)
    tiles_path, index_path = staged(staging, name)
    for path, write in ((tiles_path, lambda fh: fh.write(data)),
                        (index_path, lambda fh: np.save(fh, index, allow_pickle=False))):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            write(fh)
        os.replace(tmp, path)


def render_packs(jobs: list[PackJob], staging: Path, thumbnails: Callable[[list[int]], dict],
                 cells: int, cell_px: int, *, engine: str = "local",
                 on_done: Callable[[PackJob], None] = lambda job: None) -> None:
    """Render every pack of ``jobs`` not yet staged; ``thumbnails(idxs)`` gives the stored
    PNG thumbnails. ``engine`` ``"ray"`` renders packs as Ray tasks (a local cluster unless
    one is running), at most four in flight."""
    todo = [job for job in jobs if not is_staged(staging, job.name)]
    for job in jobs:
        if job not in todo:
            on_done(job)
    if engine == "ray":
        _render_with_ray(todo, staging, thumbnails, cells, cell_px, on_done)
        return
    kept: dict[int, np.ndarray] = {}  # an image shows at most once per level: decode it once
    for job in todo:
        need = [i for i in job.images() if i not in kept]
        fetched = thumbnails(need) if need else {}
        small = {i: small_thumbnail(fetched[i], cell_px - 2) for i in need}
        if len(kept) < KEEP_DECODED:
            kept.update(small)
        stage_pack(staging, job.name, *compose_pack(job, {**small, **{
            i: kept[i] for i in job.images() if i in kept}}, cells, cell_px))
        on_done(job)


def _render_with_ray(todo: list[PackJob], staging: Path, thumbnails, cells: int, cell_px: int,
                     on_done) -> None:
    try:
        import ray
    except ImportError:
        from vizkit.errors import VizkitError

        raise VizkitError("The Ray engine needs Ray: pip install 'cnn-vizkit[ray]'.") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    try:
        remote = ray.remote(render_pack)
        pending: dict = {}
        queue = list(todo)
        while queue or pending:
            while queue and len(pending) < 4:
                job = queue.pop(0)
                pending[remote.remote(job, thumbnails(job.images()), cells, cell_px)] = job
            ready, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(ready[0])
            stage_pack(staging, job.name, *ray.get(ready[0]))
            on_done(job)
    finally:
        if started_here:
            ray.shutdown()
