"""Widgets several pages share: the (dataset, model, layer, metric) picker over stored
features, and the query picker (an image of the dataset -- by number, at random, or by
sight in a paged gallery filtered by class and split -- or an upload). Widget keys carry
a page prefix so that two pickers live on one page (the compare page's A and B)."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import streamlit as st

from vizkit.app import links
from vizkit.errors import ImageDecodeError, ResultMissingError
from vizkit.images import decode_image, to_array
from vizkit.read.catalog import ImageTable, Reader
from vizkit.read.layouts import clusters_of
from vizkit.read.query import Query
from vizkit.read.rows import FeaturesRow
from vizkit.registry import get_registry

FROM_DATASET, UPLOAD = "From the dataset", "Upload an image"


def apply_pending(prefix: str) -> None:
    """Move values set by a click (``<key>_next``) into widgets before they are drawn."""
    for key in (f"{prefix}_query_idx", f"{prefix}_source"):
        if f"{key}_next" in st.session_state:
            st.session_state[key] = st.session_state.pop(f"{key}_next")


def _default(options: list[str], prefer: str | None = None, avoid: str | None = None) -> int:
    for i, option in enumerate(options):
        if (prefer is not None and option == prefer) or \
                (avoid is not None and option != avoid):
            return i
    return 0


def pick_features(reader: Reader, prefix: str, dataset: str | None = None,
                  avoid: FeaturesRow | None = None,
                  prefer: set[str] | None = None, url: Mapping[str, str] | None = None,
                  link: str = "") -> FeaturesRow:
    """Dataset / model / layer / metric pickers; return the chosen features (the metric
    name is in ``st.session_state[prefix + '_metric']``). ``dataset`` fixes the dataset
    (the compare page's B must search the same images as A); ``avoid`` (A's features) makes
    the first choice differ from it: another model at the same layer if there is one, else
    another layer. ``prefer`` (result keys, e.g. those with precomputed maps) makes the
    newest of those features the first choice. ``url`` (:func:`links.incoming`) sets them
    from a link's ``dataset``, ``model``/``weights``/``checkpoint``, ``layer`` and
    ``metric`` (each name prefixed by ``link``, e.g. ``b_`` for the compare page's B)."""
    url = {k.removeprefix(link): v for k, v in (url or {}).items() if k.startswith(link)}
    rows = reader.features_rows()
    preferred = [r for r in rows if r.result_key in (prefer or ())]
    first = preferred[-1] if preferred and avoid is None else None
    if not rows:
        raise ResultMissingError("The store has no features yet.")
    c1, c2, c3, c4 = st.columns(4)
    if dataset is None:
        names = sorted({r.dataset.name for r in rows})
        links.choose(url, "dataset", f"{prefix}_dataset", names)
        dataset = c1.selectbox("Dataset", names, key=f"{prefix}_dataset", index=_default(
            names, prefer=first.dataset.name if first else None))
    else:
        c1.text_input("Dataset", dataset, disabled=True, key=f"{prefix}_dataset_fixed")
    rows = [r for r in rows if r.dataset.name == dataset]
    if not rows:
        raise ResultMissingError(f"No features of {dataset} in the store.")
    models = list(dict.fromkeys(r.label for r in reversed(rows)))
    choose_model(url, f"{prefix}_model", rows)
    avoid_label = avoid.label if avoid else None
    model = c2.selectbox("Model", models, index=_default(
        models, prefer=first.label if first else None, avoid=avoid_label),
        key=f"{prefix}_model")
    rows = [r for r in rows if r.label == model]
    layers = list(dict.fromkeys(r.layer for r in rows))
    layer_index = _default(layers, prefer=first.layer if first else None) if not avoid \
        else _default(layers, prefer=avoid.layer) if model != avoid_label \
        else _default(layers, avoid=avoid.layer)
    links.choose(url, "layer", f"{prefix}_layer", layers)
    layer = c3.selectbox("Layer", layers, index=layer_index, key=f"{prefix}_layer")
    metrics = [m.name for m in get_registry().metrics()]
    links.choose(url, "metric", f"{prefix}_metric", metrics)
    c4.selectbox("Metric", metrics, key=f"{prefix}_metric")
    return [r for r in rows if r.layer == layer][-1]


def choose_model(url: Mapping[str, str], key: str, rows) -> None:
    """Set the model picker ``key`` (whose options are ``rows``' labels: features rows or
    the explorer's model references) from a link's ``model`` with its ``checkpoint`` or
    ``weights`` (a checkpoint alone names its model)."""
    if "model" not in url and "checkpoint" not in url:
        return
    wanted = [r.label for r in rows if r.model == url.get("model", r.model)
              and (r.checkpoint or None) == url.get("checkpoint")
              and (r.checkpoint or r.weights == url.get("weights", r.weights))]
    if wanted:
        st.session_state[key] = wanted[-1]


def _move(key: str, by: int, n: int) -> None:
    st.session_state[key] = min(max(0, int(st.session_state.get(key, 0)) + by), n - 1)


def step(prefix: str, labels: list[str], label: str) -> int:
    """One item of ``labels`` at a time: previous / next buttons around a picker (for focus
    views, where one result is shown large); returns the chosen position."""
    key = f"{prefix}_at"
    n = len(labels)
    st.session_state[key] = min(max(0, int(st.session_state.get(key, 0))), n - 1)
    c1, c2, c3 = st.columns([1, 6, 1], vertical_alignment="bottom")
    c1.button("← previous", key=f"{prefix}_prev", on_click=_move, args=(key, -1, n),
              disabled=st.session_state[key] <= 0, width="stretch")
    c3.button("next →", key=f"{prefix}_next", on_click=_move, args=(key, 1, n),
              disabled=st.session_state[key] >= n - 1, width="stretch")
    return c2.selectbox(label, range(n), key=key, format_func=lambda i: labels[i])


def features_link(frow: FeaturesRow, metric: str | None, link: str = "",
                  dataset: bool = True) -> dict[str, object]:
    """The URL parameters of a (features, metric) choice, named like the CLI's options."""
    out = {f"{link}model": frow.model, f"{link}checkpoint": frow.checkpoint,
           f"{link}weights": None if frow.checkpoint else frow.weights,
           f"{link}layer": frow.layer, f"{link}metric": metric}
    return {"dataset": frow.dataset.name, **out} if dataset else out


def apply_query_link(reader: Reader, frow: FeaturesRow, prefix: str,
                     url: Mapping[str, str]) -> None:
    """A link's ``query`` (an image id such as ``test/00042``) as the page's query image."""
    if "query" not in url:
        return
    ids = reader.images(frow.dataset).table["image_id"]
    found = ids.index[ids == url["query"]]
    if len(found):
        st.session_state[f"{prefix}_query_idx"] = int(found[0])
        st.session_state[f"{prefix}_source"] = FROM_DATASET


def query_link(reader: Reader, frow: FeaturesRow, query: Query) -> dict[str, object]:
    """The URL parameter of the query: its image id (an upload has none)."""
    if query.idx is None:
        return {"query": None}
    return {"query": str(reader.images(frow.dataset).table["image_id"].iloc[query.idx])}


def pick_dataset(reader: Reader, prefix: str) -> FeaturesRow:
    """A dataset picker alone, for a page that needs a dataset's images but none of its
    stored models, layers or metrics (pickers that change nothing are not shown); returns
    the newest features of that dataset (its thumbnails and image table come with them)."""
    rows = reader.features_rows()
    if not rows:
        raise ResultMissingError("The store has no features yet.")
    names = sorted({r.dataset.name for r in rows})
    links.choose(links.incoming(), "dataset", f"{prefix}_dataset", names)
    dataset = st.selectbox("Dataset", names, key=f"{prefix}_dataset")
    links.publish({"dataset": dataset})
    return [r for r in rows if r.dataset.name == dataset][-1]


def pick_source(prefix: str) -> str:
    """The query source radio: from the dataset or an upload."""
    return st.radio("Query", [FROM_DATASET, UPLOAD], horizontal=True, key=f"{prefix}_source")


def pick_index(images: ImageTable, prefix: str) -> int:
    """A dataset image by number, or a random one; return its idx."""
    n = len(images.table)
    key = f"{prefix}_query_idx"
    if key not in st.session_state:
        st.session_state[key] = int(np.random.default_rng(0).integers(n))
    st.session_state[key] = min(st.session_state[key], n - 1)
    c1, c2 = st.columns([3, 1])
    c1.number_input("Image number", 0, n - 1, key=key)
    c2.button("Random image", key=f"{prefix}_random", on_click=_random, args=(key, n))
    return int(st.session_state[key])


GALLERY_COLUMNS, GALLERY_ROWS = 8, 3
ALL = "all"


def _use(key: str, idx: int) -> None:
    """A callback: the gallery image clicked becomes the query."""
    st.session_state[key] = idx


def gallery(reader: Reader, frow: FeaturesRow, images: ImageTable, prefix: str) -> None:
    """Behind a toggle, a paged grid of the dataset's thumbnails, filtered by class, split
    and (where k-means clusters of ``frow`` are stored) cluster; "Use" makes one the
    query."""
    if not st.toggle("Browse the dataset to pick the query", key=f"{prefix}_gallery"):
        return  # nothing fetched or drawn until asked: the page stays as fast
    with st.container(border=True):
        table = images.table
        clusters = cluster_labels(reader, frow)
        c1, c2, c3, c4 = st.columns(4) if clusters is not None else (*st.columns(3), None)
        names = images.class_names
        classes = [ALL] + sorted({str(n) for n in names})
        cls = c1.selectbox("Class", classes, key=f"{prefix}_gallery_class")
        splits = [ALL] + sorted({str(v) for v in table["split"]})
        split = c2.selectbox("Split", splits, key=f"{prefix}_gallery_split")
        keep = np.ones(len(table), bool)
        if cls != ALL:
            keep &= names.astype(str) == cls
        if split != ALL:
            keep &= table["split"].astype(str).to_numpy() == split
        if clusters is not None:
            cluster = c4.selectbox("Cluster", [ALL, *range(int(clusters.max()) + 1)],
                                   key=f"{prefix}_gallery_cluster",
                                   format_func=lambda c: c if c == ALL else f"c{c}",
                                   help="k-means clusters of this model's layer")
            if cluster != ALL:
                keep &= clusters == cluster
        chosen = np.flatnonzero(keep)
        per_page = GALLERY_COLUMNS * GALLERY_ROWS
        pages = max(1, -(-len(chosen) // per_page))
        page = c3.number_input(f"Page (of {pages:,})", 1, pages, key=f"{prefix}_gallery_page")
        shown = [int(i) for i in chosen[(page - 1) * per_page: page * per_page]]
        st.caption(f"{len(chosen):,} images")
        thumbs = reader.thumbnails(frow.dataset, shown)
        for lo in range(0, len(shown), GALLERY_COLUMNS):
            for col, i in zip(st.columns(GALLERY_COLUMNS), shown[lo: lo + GALLERY_COLUMNS]):
                col.image(thumbs[i], width=64, output_format="PNG")
                col.button("Use", key=f"{prefix}_gallery_use_{i}", on_click=_use,
                           args=(f"{prefix}_query_idx", i), help=images.caption(i))


def cluster_labels(reader: Reader, frow: FeaturesRow) -> np.ndarray | None:
    """Each image's k-means cluster under ``frow`` where stored (``vizkit project`` or
    ``evolve``), else None."""
    found = clusters_of(reader, frow)
    return None if found is None else found["cluster"].to_numpy()


def _random(key: str, n: int) -> None:
    """A callback: a random image number, set before the rerun the click causes."""
    st.session_state[key] = int(np.random.default_rng().integers(n))


def upload_widget(prefix: str, label: str = "Upload an image (JPEG, PNG, WebP, BMP, TIFF, GIF)"):
    """The file uploader of a page."""
    return st.file_uploader(label, key=f"{prefix}_upload")


def decode_upload(upload) -> np.ndarray | None:
    """An uploaded file as a uint8 image, or None after saying why it cannot be used
    (nothing else is lost)."""
    try:
        return to_array(decode_image(upload.getvalue()))
    except ImageDecodeError as e:
        st.error(f"{upload.name}: {e} Nothing was searched; try another file.")
        return None


def pick_upload(prefix: str, what: str = "search the dataset for similar ones"
                ) -> tuple[np.ndarray, str]:
    """An uploaded image as a uint8 array and its name; stops the page with a message while
    there is none or it does not decode."""
    upload = upload_widget(prefix)
    if upload is None:
        st.info(f"Upload an image to {what}.")
        st.stop()
    image = decode_upload(upload)
    if image is None:
        st.stop()
    return image, upload.name


def pick_query(reader: Reader, frow: FeaturesRow, prefix: str, *, width: int = 128,
               what: str = "search the dataset for similar ones", whole: bool = False
               ) -> Query:
    """The query widgets (a dataset image or an upload); draw the query and return it.
    ``whole`` offers to keep an upload's whole frame (maps that follow its aspect)."""
    images = reader.images(frow.dataset)
    if pick_source(prefix) == FROM_DATASET:
        idx = pick_index(images, prefix)
        gallery(reader, frow, images, prefix)
        st.image(reader.thumbnails(frow.dataset, [idx])[idx], width=width,
                 caption="query " + images.caption(idx), output_format="PNG")
        return Query(idx=idx)
    image, name = pick_upload(prefix, what)
    keep_whole = whole and st.checkbox(
        "Whole image (no centre crop): maps follow its aspect ratio", key=f"{prefix}_whole")
    st.image(image, caption=f"query: {name}", width=160)
    return Query(image=image, crop=not keep_whole)


def pick_run(col, url: Mapping[str, str], key: str, names: list[str], label: str = "Run",
             param: str = "run") -> str:
    """A training run, chosen in ``col``; a link's ``param`` (``run``) picks it."""
    links.choose(url, param, key, names)
    return col.selectbox(label, names, key=key)


def pick_epoch(col, url: Mapping[str, str], key: str, epochs: list[int]) -> int:
    """The page's one epoch control, in ``col``: the last epoch by default; a link's
    ``epoch`` picks it (a single epoch needs no control)."""
    links.choose(url, "epoch", key, epochs)
    return col.select_slider("Epoch", epochs, value=epochs[-1], key=key) \
        if len(epochs) > 1 else epochs[0]
