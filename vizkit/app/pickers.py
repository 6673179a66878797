"""Widgets several pages share: the (dataset, model, layer, metric) picker over stored
features, and the query picker (an image of the dataset, or an upload). Widget keys carry
a page prefix so that two pickers live on one page (the compare page's A and B)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from vizkit.app import data
from vizkit.errors import ImageDecodeError, ResultMissingError
from vizkit.images import decode_image, to_array
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


def pick_features(path: str, prefix: str, dataset: str | None = None,
                  avoid: dict | None = None) -> dict:
    """Dataset / model / layer / metric pickers; return the chosen features' catalog row
    (the metric name is in ``st.session_state[prefix + '_metric']``). ``dataset`` fixes
    the dataset (the compare page's B must search the same images as A); ``avoid`` (A's
    row) makes the first choice differ from it: another model at the same layer if there
    is one, else another layer."""
    feats = data.catalog(path, "features")
    if feats.empty:
        raise ResultMissingError("The store has no features yet. Run `vizkit demo`, or "
                                 "`vizkit precompute --dataset D --model M --layers L`.")
    feats = feats.assign(dataset=feats["dataset_key"].str.split("#").str[0],
                         label=[data.model_label(r) for r in feats.to_dict("records")])
    c1, c2, c3, c4 = st.columns(4)
    if dataset is None:
        dataset = c1.selectbox("Dataset", sorted(feats["dataset"].unique()),
                               key=f"{prefix}_dataset")
    else:
        c1.text_input("Dataset", dataset, disabled=True, key=f"{prefix}_dataset_fixed")
    feats = feats[feats["dataset"] == dataset]
    if feats.empty:
        raise ResultMissingError(f"No features of {dataset} in the store.")
    avoid_label = data.model_label(avoid) if avoid else None
    models = list(dict.fromkeys(feats["label"][::-1]))
    model = c2.selectbox("Model", models, index=_default(models, avoid=avoid_label),
                         key=f"{prefix}_model")
    feats = feats[feats["label"] == model]
    layers = list(dict.fromkeys(feats["layer"]))
    layer_index = 0 if not avoid else _default(layers, prefer=avoid["layer"]) \
        if model != avoid_label else _default(layers, avoid=avoid["layer"])
    layer = c3.selectbox("Layer", layers, index=layer_index, key=f"{prefix}_layer")
    metrics = [m.name for m in get_registry().metrics()]
    c4.selectbox("Metric", metrics, key=f"{prefix}_metric")
    return feats[feats["layer"] == layer].iloc[-1].to_dict()


def pick_source(prefix: str) -> str:
    """The query source radio: from the dataset or an upload."""
    return st.radio("Query", [FROM_DATASET, UPLOAD], horizontal=True, key=f"{prefix}_source")


def pick_index(table: pd.DataFrame, prefix: str) -> int:
    """A dataset image by number, or a random one; return its idx."""
    n = len(table)
    key = f"{prefix}_query_idx"
    if key not in st.session_state:
        st.session_state[key] = int(np.random.default_rng(0).integers(n))
    st.session_state[key] = min(st.session_state[key], n - 1)
    c1, c2 = st.columns([3, 1])
    c1.number_input("Image number", 0, n - 1, key=key)
    if c2.button("Random image", key=f"{prefix}_random"):
        st.session_state[f"{key}_next"] = int(np.random.default_rng().integers(n))
        st.rerun()
    return int(st.session_state[key])


def pick_upload(prefix: str, what: str = "search the dataset for similar ones"
                ) -> tuple[np.ndarray, str, bytes]:
    """An uploaded image as a uint8 array, its name and its bytes; stops the page with a
    message while there is none or it does not decode (nothing else is lost)."""
    upload = st.file_uploader("Upload an image (JPEG, PNG, WebP, BMP, TIFF)",
                              key=f"{prefix}_upload")
    if upload is None:
        st.info(f"Upload an image to {what}.")
        st.stop()
    raw = upload.getvalue()
    try:
        image = decode_image(raw)
    except ImageDecodeError as e:
        st.error(f"{upload.name}: {e} Nothing was searched; try another file.")
        st.stop()
    return to_array(image), upload.name, raw


def query_caption(table: pd.DataFrame, classes: list[str], idx: int) -> str:
    """``query <id> · <class>`` for a dataset image."""
    row = table.iloc[idx]
    label = int(row["label"])
    return f"query {row['image_id']} · {classes[label] if label >= 0 else '(unlabelled)'}"
