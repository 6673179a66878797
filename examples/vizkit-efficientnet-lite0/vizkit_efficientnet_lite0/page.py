"""The "ImageNet classes" page: EfficientNet-Lite0's top-5 classes for a dataset image or an
upload. A page asks vizkit's read side and draws; the model is loaded once per process."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from vizkit.app import data, pickers
from vizkit.read.explorer import dataset_image


@st.cache_resource(show_spinner="Loading EfficientNet-Lite0…")
def _model():
    from vizkit_efficientnet_lite0.classify import load

    return load()


def render() -> None:
    """Called on every rerun of the page."""
    from vizkit_efficientnet_lite0.classify import top5

    st.title("ImageNet classes")
    st.caption("EfficientNet-Lite0 with ImageNet weights (the vizkit-efficientnet-lite0 "
               "example plugin): what an ImageNet CNN sees in an image.")
    reader = data.reader()
    frow = pickers.pick_dataset(reader, "imagenet")  # the model is fixed: no other picker
    query = pickers.pick_query(reader, frow, "imagenet", width=160,
                               what="see its ImageNet classes")
    image = query.image if query.image is not None else \
        dataset_image(reader, frow.dataset, query.idx)
    classes = top5(_model(), [image])[0]
    st.dataframe(pd.DataFrame(classes, columns=["class", "probability"]), hide_index=True,
                 key="imagenet_top5")
