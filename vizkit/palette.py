"""vizkit's one visual language: every colour the app and its pictures use is chosen here,
and nowhere else (tests/test_palette.py looks for colour literals elsewhere).

- **Classes** get one categorical colour each, by their *label* (their place in the
  dataset's class list), so a class is the same colour on every page, in every drawing mode,
  for every run and epoch, whichever classes a view happens to show; unlabelled images are
  grey. Twenty colours, then they repeat.
- **Clusters** get colours of their own (a different set, so a cluster is never mistaken for
  a class), by cluster number — numbers matched across a run's checkpoints.
- **Runs** get colours far apart (two runs are never two blues).
- **Signed values** (similarity maps, channel contributions): blue adds to the score, red
  takes away, white is zero.
- **Magnitudes** (the Models x layers heatmap, confusion counts, activations): one
  sequential scale, light to dark blue, with each cell's text black or white, whichever
  reads on it.

This module imports nothing of vizkit: pages, plots and the compute code that paints map
overlays all take their colours from it.
"""
from __future__ import annotations

from collections.abc import Iterable

UNLABELLED_NAME = "(unlabelled)"

# Tableau's ten (its grey replaced by an indigo: grey means "no label"), then their light
# companions for classes 10-19.
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#17becf", "#bcbd22", "#393b79", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896",
                 "#c5b0d5", "#c49c94", "#f7b6d2", "#9edae5", "#dbdb8d", "#637939")
UNLABELLED = "#b0b0b0"
CLUSTER_COLOURS = ("#AA0DFE", "#3283FE", "#85660D", "#782AB6", "#565656", "#1C8356",
                   "#16FF32", "#F7E1A0", "#E2E2E2", "#1CBE4F", "#C4451C", "#DEA0FD", "#FE00FA",
                   "#325A9B", "#FEAF16", "#F8A19F", "#90AD1C", "#F6222E", "#1CFFCE", "#2ED9FF",
                   "#B10DA1", "#C075A6", "#FC1CBF", "#B00068", "#FBE426", "#FA0087")
RUN_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
               "#666666")
START = "#4d4d4d"  # a run's starting point (epoch 0) where runs are compared
FOR = "#2166ac"  # adds to a similarity (blue)
AGAINST = "#b2182b"  # takes away from it (red)
ZERO = "#f7f7f7"
HEAT = "#e6550d"  # a non-negative map over an image (a channel's activation)
DIVERGING = ((0.0, AGAINST), (0.5, ZERO), (1.0, FOR))
SEQUENTIAL = ((0.0, "#f7fbff"), (0.25, "#c6dbef"), (0.5, "#6baed6"), (0.75, "#2171b5"),
              (1.0, "#08306b"))
# the same blues without the near-white end, for marks drawn on a white page (bars, points)
SEQUENTIAL_MARKS = ((0.0, "#9ecae1"), (0.5, "#4292c6"), (1.0, "#08306b"))
CORRECT = {"yes": "#1a9850", "no": "#d73027"}
SPLITS = {"train": "#1f77b4", "test": "#ff7f0e", "val": "#2ca02c", "all": "#7f7f7f"}
IDEAL = "#000000"  # the ideal point of the triplet scatter, reference lines
GUIDE = "#9e9e9e"  # diagonals, separators, empty bars
TEXT_DARK, TEXT_LIGHT = "#111111", "#ffffff"
ACCENT = "#d62728"  # score bars of search results (the theme's primary colour's fallback)
SURFACE, BORDER, INK = "#ffffff", "#dddddd", "#222222"  # fallbacks for a page's theme


def class_colour(label: int) -> str:
    """The colour of class ``label`` (its index in the dataset's classes); grey for -1."""
    return UNLABELLED if label < 0 else CLASS_COLOURS[label % len(CLASS_COLOURS)]


def class_colours(classes: Iterable[str]) -> dict[str, str]:
    """Class name -> colour, for a dataset's classes in their order (and the unlabelled)."""
    out = {name: class_colour(i) for i, name in enumerate(classes)}
    out[UNLABELLED_NAME] = UNLABELLED
    return out


def cluster_colour(cluster: int) -> str:
    """The colour of cluster number ``cluster``."""
    return CLUSTER_COLOURS[int(cluster) % len(CLUSTER_COLOURS)]


def run_colours(runs: Iterable[str]) -> dict[str, str]:
    """Run name -> colour, in the order given (the first run the first colour)."""
    return {run: RUN_COLOURS[i % len(RUN_COLOURS)] for i, run in enumerate(dict.fromkeys(runs))}


def colours_for(column: str, values: Iterable, classes: list[str]) -> dict[str, str]:
    """Value (as text) -> colour for a scatter coloured by ``column``: ``class`` and
    ``predicted`` by class, ``cluster`` by cluster, ``correct`` and ``split`` by their own
    fixed colours; anything else by the cluster colours in sorted order."""
    shown = sorted({str(v) for v in values}, key=_natural)
    if column in ("class", "predicted", "label"):  # in the dataset's class order
        by_class = class_colours(classes)
        return {**{v: c for v, c in by_class.items() if v in shown},
                **{v: UNLABELLED for v in shown if v not in by_class}}
    if column == "cluster":
        return {v: cluster_colour(int(v)) if v.lstrip("-").isdigit() else UNLABELLED
                for v in shown}
    fixed = {"correct": CORRECT, "split": SPLITS}.get(column, {})
    return {v: fixed.get(v) or CLUSTER_COLOURS[i % len(CLUSTER_COLOURS)]
            for i, v in enumerate(shown)}


def _natural(text: str):
    return (0, int(text)) if text.lstrip("-").isdigit() else (1, text)


def translucent(colour: str, alpha: float) -> str:
    """``colour`` with opacity ``alpha``, as CSS and Plotly take it."""
    r, g, b = rgb(colour)
    return f"rgba({r}, {g}, {b}, {alpha:g})"


def plotly_scale(stops: tuple[tuple[float, str], ...]) -> list[list]:
    """A scale as Plotly takes it (``[[position, colour], ...]``)."""
    return [[p, c] for p, c in stops]


def text_colour(fraction: float) -> str:
    """Black or white text, whichever reads on the :data:`SEQUENTIAL` colour at
    ``fraction`` (0 = lightest) of the scale."""
    return TEXT_LIGHT if fraction > 0.55 else TEXT_DARK


def rgb(colour: str) -> tuple[int, int, int]:
    """``#rrggbb`` as three 0-255 integers (for pictures painted with numpy)."""
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)
