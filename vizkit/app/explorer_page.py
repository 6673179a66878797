"""Model explorer: a model's layers; for a layer, the optimised image of a channel beside the
dataset images that excite it most (activation overlaid); the feature maps of any image;
every rendered channel of the layer; and the same depth of a second model side by side."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from vizkit import background, palette
from vizkit.api.models import POOLINGS
from vizkit.app import data, links, pickers
from vizkit.errors import ResultMissingError, VizkitError
from vizkit.paths import read_only
from vizkit.read import explorer
from vizkit.read.catalog import Reader
from vizkit.read.overlay import heat_overlay

if TYPE_CHECKING:
    from vizkit.runtime.loaded import LoadedModel

MAPS_SHOWN = 32


def _pick_model(reader: Reader, key: str, label: str = "Model", default: str | None = None,
                url: dict[str, str] | None = None) -> LoadedModel:
    """A model picker; by default the first model whose channels were rendered (a link's
    ``model`` with its ``checkpoint`` or ``weights`` first)."""
    options, rendered = explorer.models(reader)
    if not options:
        raise ResultMissingError("The store has no models yet.")
    names = list(options)
    pickers.choose_model(url or {}, key, list(options.values()))
    default = default if default in names else (rendered[0] if rendered else names[0])
    return explorer.load(reader, options[st.selectbox(label, names,
                                                      index=names.index(default), key=key)])


TABS = ("Channel", "Feature maps of an image", "All rendered channels", "Compare two models")


def _spatial_layers(model: LoadedModel) -> list[str]:
    return [i.name for i in model.layers() if i.spatial]


def render() -> None:
    st.title("Model explorer")
    url = links.incoming()
    reader = data.reader()
    pickers.apply_pending("exp")
    c1, c2 = st.columns([3, 2])
    with c1:
        model = _pick_model(reader, "exp_model", url=url)
    layers = _spatial_layers(model)
    if not layers:
        raise VizkitError(f"{model.label} has no layers with spatial output to explore.")
    stored = explorer.channel_images(reader, model.weights_fingerprint)
    default = stored["layer"].iloc[-1] if not stored.empty else layers[-1]
    links.choose(url, "layer", "exp_layer", layers)
    layer = c2.selectbox("Layer", layers, index=layers.index(default) if default in layers
                         else len(layers) - 1, key="exp_layer")
    with st.expander("Layer catalogue", expanded=False):
        _catalogue(model, stored)
    n_channels = model.layer(layer).channels
    rendered = stored[stored["layer"] == layer]["channel"].tolist()
    if st.session_state.get("exp_channel_layer") != layer:  # a new layer: a rendered channel
        st.session_state["exp_channel_layer"] = layer
        st.session_state["exp_channel"] = rendered[0] if rendered else 0
    st.session_state["exp_channel"] = min(int(st.session_state["exp_channel"]), n_channels - 1)
    links.whole_number(url, "channel", "exp_channel", 0, n_channels - 1)
    channel = st.number_input(f"Channel (0-{n_channels - 1})", 0, n_channels - 1,
                              key="exp_channel")
    links.choose(url, "tab", "exp_tab", TABS)
    tabs = st.tabs(list(TABS), key="exp_tab")
    links.publish({"model": model.name, "checkpoint": model.checkpoint,
                   "weights": None if model.checkpoint else model.weights, "layer": layer,
                   "channel": int(channel), "tab": st.session_state.get("exp_tab")})
    with tabs[0]:
        _channel(reader, model, layer, int(channel), stored)
    with tabs[1]:
        _feature_maps(reader, model, layer)
    with tabs[2]:
        _rendered_grid(model, layer, stored, key="exp_grid", buttons=True)
    with tabs[3]:
        _compare(reader, model, layer, layers)


def _catalogue(model: LoadedModel, stored: pd.DataFrame) -> None:
    """Every inspectable layer: kind, output shape, channels, receptive-field stride."""
    rendered = stored.groupby("layer").size() if not stored.empty else pd.Series(dtype=int)
    rows = []
    for info in model.layers():
        stride = (model.config.height / info.shape[1]) if info.spatial else None
        rows.append({"layer": info.name, "kind": info.kind, "output shape": str(info.shape),
                     "channels": info.channels if info.spatial else None,
                     "stride (px)": None if stride is None else round(stride, 1),
                     "rendered channels": int(rendered.get(info.name, 0))})
    table = pd.DataFrame(rows)
    st.dataframe(table, hide_index=True, key="exp_catalogue")
    spatial = table.dropna(subset=["channels"])
    if not spatial.empty:
        fig = px.bar(spatial, x="layer", y="channels", color="stride (px)", height=260,
                     color_continuous_scale=palette.plotly_scale(palette.SEQUENTIAL_MARKS),
                     title="channels per layer, coloured by "
                     "stride (input pixels per output cell)")
        st.plotly_chart(fig, key="exp_catalogue_chart")


def _channel(reader: Reader, model: LoadedModel, layer: str, channel: int,
             stored: pd.DataFrame) -> None:
    left, right = st.columns([1, 3])
    with left:
        st.markdown(f"**{layer} · channel {channel}**, optimised image")
        mine = stored[(stored["layer"] == layer) & (stored["channel"] == channel)]
        if not mine.empty:
            row = mine.iloc[-1]
            st.image(bytes(row["png"]), width=200, output_format="PNG")
            st.caption(f"{row['objective']}, {row['steps']} steps at {row['size']} px")
        else:
            st.caption("Not rendered yet.")
        concept = explorer.channel_concept(reader, model.weights_fingerprint, layer, channel)
        if concept is not None:
            st.markdown(f"Dissection: **{concept['concept']}**, IoU {concept['iou']:.3f}"
                        + (" — a detector" if concept["detector"] else " (below 0.04: not "
                           "a detector)"), help=f"`vizkit dissect` on {concept['dataset']}: "
                        "the region where this channel fires in its top 0.5% of activations, "
                        "against each concept's region (the object, each class's object).")
        _render_controls(reader, model, layer, channel, again=not mine.empty)
    with right:
        _top_images(reader, model, layer, channel)


RENDER_STEPS = 256


def _render_controls(reader: Reader, model: LoadedModel, layer: str, channel: int,
                     again: bool) -> None:
    """A button that renders this channel in a background job (one at a time per store,
    its progress shown), or nothing on a read-only app."""
    if read_only():
        return
    job = f"render-{layer}-{channel}"
    if st.button("Render again" if again else "Render now", key="exp_render",
                 help=f"{RENDER_STEPS} optimisation steps in a background job"):
        try:
            background.start(reader.path, job, [
                "render", *_model_options(model), "--layer", layer, "--channel", str(channel),
                "--steps", str(RENDER_STEPS)])
            st.session_state["exp_render_started"] = job
        except background.JobBusyError as e:
            st.warning(str(e))
    if background.status(reader.path, job) is not None:
        _render_progress(reader, job)


@st.fragment(run_every=1.0)
def _render_progress(reader: Reader, job: str) -> None:
    status = background.status(reader.path, job)
    if status is None:
        return
    if status.state == "running":
        st.progress(status.fraction, text=render_progress_text(status.done, status.total))
    elif status.state == "failed":
        st.error(f"Rendering failed: {status.message}")
    elif st.session_state.get("exp_render_started") == job:
        del st.session_state["exp_render_started"]
        st.rerun()  # the whole page: the new image is in the store


def render_progress_text(done: int, total: int) -> str:
    """What a render in progress says: its steps once the job knows them, before that that
    it is starting (never "0/0 steps")."""
    if not total:
        return "Starting the render (loading the model)…"
    return f"Rendering… step {done:,} of {total:,}"


def _model_options(model: LoadedModel) -> list[str]:
    if model.checkpoint:
        return ["--checkpoint", model.checkpoint]
    return ["--model", model.name, "--weights", model.weights,
            "--input-size", str(model.config.height)]


def _top_images(reader: Reader, model: LoadedModel, layer: str, channel: int) -> None:
    pooling = st.radio("Top images by", POOLINGS, horizontal=True, key="exp_pooling",
                       format_func=lambda p: f"{p} activation")
    rows = explorer.top_images(reader, model.weights_fingerprint, layer, channel, pooling)
    if rows.empty:
        st.info(f"No top-activating images stored for {layer} of this model. Run `vizkit "
                f"precompute --dataset D --{_model_flag(model)} --channel-vis --layers "
                f"{layer}`.")
        return
    images = reader.images(rows["dataset_key"].iloc[0])
    thumbs = reader.thumbnails(images.dataset, rows["idx"])
    vmax = max(float(np.max(m)) for m in rows["amap"]) or 1.0
    st.caption(f"The {len(rows)} images of {images.dataset.name} with the highest {pooling} "
               f"activation of channel {channel}; orange = where it fires (one scale, max "
               f"{vmax:.2f}).")
    cols = st.columns(8)
    for j, r in enumerate(rows.itertuples()):
        image = explorer.thumbnail_array(thumbs[int(r.idx)])
        amap = np.asarray(r.amap, np.float32).reshape(r.h, r.w)
        with cols[j % 8]:
            st.image(heat_overlay(image, amap, vmax), width=84, output_format="PNG")
            label = int(images.labels[int(r.idx)])
            st.caption(f"{r.value:.2f} · {images.class_name(label) if label >= 0 else ''}")


def _model_flag(model: LoadedModel) -> str:
    return f"checkpoint {model.checkpoint}" if model.checkpoint else f"model {model.name}"


def _feature_maps(reader: Reader, model: LoadedModel, layer: str) -> None:
    source = pickers.pick_source("exp")
    if source == pickers.FROM_DATASET:
        datasets = list(reader.catalog().datasets.values())
        if not datasets:
            st.info("The store has no datasets; upload an image instead.")
            return
        dataset = st.selectbox("Dataset", datasets, key="exp_dataset",
                               format_func=lambda d: d.name)
        images = reader.images(dataset)
        idx = pickers.pick_index(images, "exp")
        image = explorer.dataset_image(reader, dataset, idx)
        caption = "query " + images.caption(idx)
    else:  # not pickers.pick_upload: its st.stop() would also stop the other tabs
        upload = pickers.upload_widget("exp")
        if upload is None:
            st.info("Upload an image to see its feature maps.")
            return
        image = pickers.decode_upload(upload)
        if image is None:
            return
        caption = upload.name
    maps = explorer.feature_maps_of(model, layer, image)
    c1, c2 = st.columns([1, 3])
    c1.image(image, width=160, caption=caption)
    order_by = c2.radio("Order channels by", ["max", "mean", "channel number"],
                        horizontal=True, key="exp_order")
    shown = c2.slider("Channels shown", 8, min(64, len(maps)), min(MAPS_SHOWN, len(maps)),
                      step=4, key="exp_shown") if len(maps) > 8 else len(maps)
    flat = maps.reshape(len(maps), -1)
    score = {"max": flat.max(1), "mean": flat.mean(1)}.get(order_by)
    order = np.argsort(-score, kind="stable") if score is not None else np.arange(len(maps))
    order = order[:shown]
    fig = px.imshow(maps[order], facet_col=0, facet_col_wrap=8,
                    color_continuous_scale=palette.plotly_scale(palette.SEQUENTIAL),
                    height=140 * int(np.ceil(len(order) / 8)) + 60,
                    labels={"color": "activation"})
    for i, c in enumerate(order):
        fig.layout.annotations[i].text = f"ch {c}"
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(margin={"l": 0, "r": 0, "t": 30, "b": 0})
    st.plotly_chart(fig, key="exp_maps")
    st.selectbox("Open a channel (its optimised image and top images are in the Channel tab)",
                 [None] + [int(c) for c in order], key="exp_open", on_change=_open_picked,
                 format_func=lambda c: "—" if c is None else
                 f"channel {c} (max {flat[c].max():.2f}, mean {flat[c].mean():.2f})")


def _open_picked() -> None:
    if st.session_state.get("exp_open") is not None:
        _open_channel(st.session_state["exp_open"])
        st.session_state["exp_open"] = None


def _open_channel(channel: int) -> None:
    """Widget callback: make ``channel`` the open one, and show it (its tab)."""
    st.session_state["exp_channel"] = int(channel)
    st.session_state["exp_tab"] = TABS[0]


def _rendered_grid(model: LoadedModel, layer: str, stored: pd.DataFrame, key: str,
                   buttons: bool, columns: int = 6) -> None:
    mine = stored[stored["layer"] == layer]
    if mine.empty:
        st.info(f"No channel of {layer} rendered for {model.label}. Run `vizkit precompute "
                f"--dataset D --{_model_flag(model)} --channel-vis --layers {layer}`.")
        return
    cols = st.columns(columns)
    for j, r in enumerate(mine.itertuples()):
        with cols[j % columns]:
            st.image(bytes(r.png), width=96, output_format="PNG")
            if buttons:
                st.button(f"ch {r.channel}", key=f"{key}_{r.channel}", help="Open this channel",
                          on_click=_open_channel, args=(int(r.channel),))
            else:
                st.caption(f"ch {r.channel}")


def _compare(reader: Reader, model: LoadedModel, layer: str, layers: list[str]) -> None:
    st.caption("The same relative depth in a second model or checkpoint.")
    other = _pick_model(reader, "exp_model_b", "Compare with",
                        default=_other_default(reader, model))
    other_layers = _spatial_layers(other)
    depth = layers.index(layer) / max(len(layers) - 1, 1)
    guess = other_layers[round(depth * (len(other_layers) - 1))] if other_layers else None
    if guess is None:
        st.info(f"{other.label} has no spatial layers.")
        return
    other_layer = st.selectbox("Its layer", other_layers, index=other_layers.index(guess),
                               key=f"exp_layer_b_{layer}")
    a, b = st.columns(2)
    with a:
        st.markdown(f"**{model.label}** · {layer}")
        _rendered_grid(model, layer, explorer.channel_images(
            reader, model.weights_fingerprint), key="exp_cmp_a", buttons=False,
            columns=4)
    with b:
        st.markdown(f"**{other.label}** · {other_layer}")
        _rendered_grid(other, other_layer, explorer.channel_images(
            reader, other.weights_fingerprint), key="exp_cmp_b", buttons=False,
            columns=4)


def _other_default(reader: Reader, model: LoadedModel) -> str | None:
    """By default compare with another model whose channels were rendered, else with the
    run's first checkpoint (before training)."""
    _options, rendered = explorer.models(reader)
    others = [n for n in rendered if n != st.session_state.get("exp_model")]
    return others[0] if others else explorer.untrained_label(reader, model.weights_fingerprint)
