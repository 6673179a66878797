"""What the home page shows: one real example of each kind of result the store holds — a
search and its nearest images, a pair's similarity maps, a channel's optimised image with
the images that excite it most, a run's map of its last checkpoint, the Models x layers
heatmap — each with the link
parameters that open its page on exactly that view. Only stored results are read (no
model, no search beyond a stored list), so the home page draws in well under a second;
a kind the store does not hold is simply absent."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vizkit.errors import ResultMissingError
from vizkit.read.catalog import Reader
from vizkit.read.explorer import channel_images, models, top_images
from vizkit.read.grid import SCORES, labelled_datasets, quality_table, richest_first
from vizkit.read.layouts import coords, series, series_layouts
from vizkit.read.maps import map_queries, stored_maps
from vizkit.read.rows import FeaturesRow

SHOWN = 8  # results or images per card


@dataclass(frozen=True)
class Card:
    """One example: its page, a title and sentence, thumbnails (PNG bytes) with captions,
    and the link parameters that open the page on it (``points`` for a map card, ``grid``
    for the Models x layers card: read.grid.quality_table's rows)."""

    page: str
    title: str
    text: str
    pictures: list[bytes] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    link: dict[str, str] = field(default_factory=dict)
    points: dict | None = None
    grid: pd.DataFrame | None = None


def _features_link(frow: FeaturesRow) -> dict[str, str]:
    link = {"dataset": frow.dataset.name, "model": frow.model, "layer": frow.layer}
    if frow.checkpoint:
        link["checkpoint"] = frow.checkpoint
    else:
        link["weights"] = frow.weights
    return link


def search_card(reader: Reader) -> Card | None:
    """The first labelled image of the largest dataset with stored top-k lists, and its
    nearest images under those lists."""
    cat = reader.catalog()
    lists = [n for n in cat.neighbors if n.source_key in cat.features]
    if not lists:
        return None
    nrow = max(lists, key=lambda n: (cat.features[n.source_key].n,  # the largest dataset,
                                     cat.features[n.source_key].layer in ("embedding",
                                                                          "pre_logits")))
    frow = cat.features[nrow.source_key]
    images = reader.images(frow.dataset)
    labelled = np.flatnonzero(images.labels >= 0)
    if not len(labelled):
        return None
    query = int(labelled[0])
    nbr, score = reader.neighbor_lists(nrow.result_key)
    found = [int(i) for i in np.asarray(nbr[query][:SHOWN]) if i >= 0]
    thumbs = reader.thumbnails(frow.dataset, [query, *found])
    same = sum(images.labels[i] == images.labels[query] for i in found)
    return Card("search", "Semantic search",
                f"{images.caption(query)} and its {len(found)} nearest images under "
                f"{frow.label} · {frow.layer} ({nrow.metric}): {same} of the same class.",
                [thumbs[i] for i in [query, *found] if i in thumbs],
                ["query"] + [f"{images.class_name(int(images.labels[i]))} · {s:.3f}"
                             for i, s in zip(found, np.asarray(score[query][:SHOWN]))],
                {**_features_link(frow), "metric": nrow.metric,
                 "query": str(images.table["image_id"].iloc[query])})


def maps_card(reader: Reader) -> Card | None:
    """A query with precomputed similarity maps and its first results, each drawn as the
    result under its map (blue adds to the similarity, red takes away)."""
    from vizkit.read.explorer import thumbnail_array
    from vizkit.read.overlay import shared_scale, signed_overlay

    cat = reader.catalog()
    found = [m for m in cat.maps if m.source_key in cat.features]
    if not found:
        return None
    mrow = found[-1]
    frow = cat.features[mrow.source_key]
    queries = map_queries(reader, mrow)
    if not queries:
        return None
    idx = int(queries[0])
    nbr, _, maps = stored_maps(reader, mrow, idx)
    nbr, maps = nbr[:4], maps[:4]
    thumbs = reader.thumbnails(frow.dataset, [idx, *nbr])
    vmax = shared_scale([m.query for m in maps] + [m.result for m in maps])
    pictures = [thumbs[idx]]
    captions = ["query"]
    for i, pm in zip(nbr, maps):
        pictures.append(signed_overlay(thumbnail_array(thumbs[int(i)]), pm.result, vmax))
        captions.append(f"{mrow.map_metric} {pm.score:.3f}")
    images = reader.images(frow.dataset)
    return Card("similarity", "Similarity maps",
                f"Where {images.caption(idx)} and its nearest images look alike (blue) or "
                f"not (red), under {frow.label} · {frow.layer}: each map sums to the "
                "similarity exactly.", pictures, captions,
                {**_features_link(frow), "metric": mrow.metric,
                 "query": str(images.table["image_id"].iloc[idx])})


def channel_card(reader: Reader) -> Card | None:
    """A rendered channel's optimised image beside the dataset images that excite it most."""
    options, rendered = models(reader)
    for label in rendered:
        ref = options[label]
        stored = channel_images(reader, ref.weights_fp) if ref.weights_fp else None
        if stored is None or stored.empty:
            continue
        row = stored.iloc[-1]
        top = top_images(reader, ref.weights_fp, row["layer"], int(row["channel"]), "max")
        pictures, captions = [bytes(row["png"])], ["optimised"]
        if not top.empty:
            key = str(top["dataset_key"].iloc[0])
            idxs = [int(i) for i in top["idx"].head(SHOWN - 1)]
            thumbs = reader.thumbnails(key, idxs)
            pictures += [thumbs[i] for i in idxs if i in thumbs]
            captions += [f"top {r + 1}" for r in range(len(pictures) - 1)]
        link = {"model": ref.model, "layer": str(row["layer"]),
                "channel": str(int(row["channel"])), "tab": "Channel"}
        link.update({"checkpoint": ref.checkpoint} if ref.checkpoint else
                    {"weights": ref.weights})
        return Card("explorer", "Model explorer",
                    f"Channel {int(row['channel'])} of {row['layer']} in {label}: the image "
                    "optimised to excite it (torch-lucent), then the dataset images that "
                    "excite it most.", pictures, captions, link)
    return None


def evolution_card(reader: Reader) -> Card | None:
    """A run's last checkpoint laid out on its aligned map (points coloured by class)."""
    try:
        refs = series(reader)
    except ResultMissingError:
        return None
    ref = refs[0]
    by_epoch = series_layouts(reader, ref)
    if not by_epoch:
        return None
    epoch = max(by_epoch)
    layout = by_epoch[epoch]
    xy = coords(reader, layout)
    images = reader.images(ref.dataset)
    return Card("evolution", "Training evolution",
                f"Run {ref.run}'s {ref.layer} at epoch {epoch} on one map aligned across its "
                f"{len(by_epoch)} checkpoints; play them to watch the classes come apart.",
                link={"run": ref.run, "layer": ref.layer, "dataset": ref.dataset.name,
                      "method": layout.method, "epoch": str(epoch)},
                points={"x": xy[:, 0], "y": xy[:, 1], "class": images.class_names,
                        "classes": images.classes})


def grid_card(reader: Reader, score: str = "ndcg_at_50") -> Card | None:
    """The Models x layers heatmap of the dataset with the most (model, layer) cells, under
    cosine, when it has at least two cells to compare (a memoised look-up the grid page
    then reuses)."""
    from vizkit.registry import get_registry

    datasets = richest_first(reader, labelled_datasets(reader))
    if not datasets:
        return None
    table = quality_table(reader, datasets[0], get_registry().metric("cosine"))
    if len(table) < 2:
        return None
    best = table.loc[table[score].idxmax()]
    return Card("grid", "Models × layers",
                f"Which model and layer retrieve best on {datasets[0]}: {SCORES[score]} of "
                f"{int(table['queries'].max()):,} queries per cell (cosine). Best: "
                f"{best['model']} at {best['layer']} ({best[score]:.3f}).",
                link={"dataset": datasets[0], "metric": "cosine", "score": score},
                grid=table)


def cards(reader: Reader) -> list[Card]:
    """Every example the store can show, in the order the home page draws them; made once
    per version of the store (a revisit reads nothing again)."""
    def make() -> list[Card]:
        return [c for c in (search_card(reader), maps_card(reader), channel_card(reader),
                            evolution_card(reader), grid_card(reader)) if c is not None]
    return reader.memo("home cards", reader.version(), make, keep=2)
