"""One visual language: colours are chosen in vizkit/palette.py only, by what they mean —
a class by its label, the same on every query and page; runs distinct; clusters matched
across checkpoints so a cluster keeps its number and colour; score bars that compare as
the numbers do."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd

from vizkit import palette

ROOT = Path(__file__).resolve().parents[1]
COLOUR = re.compile(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?\b|\brgba?\(|^(?:black|white|grey|gray|"
                    r"red|blue|green|orange|Blues|Reds|Greys|Viridis|viridis|RdBu|Plasma)$")
DRAWING = ["vizkit/app", "vizkit/compute", "examples/vizkit-efficientnet-lite0"]


def colour_literals(source: str) -> list[str]:
    """String constants in ``source`` that name a colour or a colour scale."""
    return [node.value for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and COLOUR.search(node.value)]


def unpaletted_colour_calls(source: str) -> list[int]:
    """Lines of plotly express calls that colour by a column without the palette's map."""
    bad = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "value", None) is not None \
                and getattr(node.func.value, "id", "") == "px":
            names = {k.arg for k in node.keywords}
            if "color" in names and not names & {"color_discrete_map",
                                                 "color_continuous_scale"}:
                bad.append(node.lineno)
    return bad


def test_colours_are_chosen_only_in_the_palette():
    found = {}
    for folder in DRAWING:
        for path in sorted((ROOT / folder).rglob("*.py")):
            source = path.read_text()
            literals = colour_literals(source)
            calls = unpaletted_colour_calls(source)
            if literals or calls:
                found[str(path.relative_to(ROOT))] = (literals, calls)
    assert found == {}, found


def test_the_checks_catch_a_colour_outside_the_palette():  # the test above can fail
    found = colour_literals('x = {"color": "#b2182b"}\ny = "Viridis"')
    assert sorted(found) == ["#b2182b", "Viridis"]
    assert unpaletted_colour_calls("px.line(df, x='a', color='run')\n") == [1]
    assert unpaletted_colour_calls("px.line(df, color='run', color_discrete_map=m)\n") == []


def test_a_class_keeps_its_colour_whatever_the_query():
    from vizkit.app.search_page import class_mix

    one = pd.DataFrame({"label": [4, 4, 2, 6], "class_name": ["Coat", "Coat", "Pullover",
                                                              "Shirt"]})
    other = pd.DataFrame({"label": [6, 6, 6, 4], "class_name": ["Shirt"] * 3 + ["Coat"]})
    first = {name: colour for name, _, colour in class_mix(one)}
    second = {name: colour for name, _, colour in class_mix(other)}
    assert first["Coat"] == second["Coat"] == palette.class_colour(4)
    assert first["Shirt"] == second["Shirt"] != first["Coat"]
    assert [n for n, _, _ in class_mix(other)] == ["Shirt", "Coat"]  # largest first


def test_classes_clusters_and_runs_have_their_own_colours():
    classes = [f"c{i}" for i in range(10)]
    by_class = palette.colours_for("class", ["c3", "c1", "(unlabelled)"], classes)
    assert by_class == {"c1": palette.class_colour(1), "c3": palette.class_colour(3),
                        "(unlabelled)": palette.UNLABELLED}
    assert len(set(palette.CLASS_COLOURS)) == len(palette.CLASS_COLOURS)
    assert not set(palette.CLASS_COLOURS) & set(palette.CLUSTER_COLOURS)
    runs = palette.run_colours(["a", "b"])
    assert runs["a"] != runs["b"]
    assert palette.colours_for("cluster", [3, 0], classes) == {
        "0": palette.cluster_colour(0), "3": palette.cluster_colour(3)}


def test_clusters_keep_their_numbers_across_checkpoints():
    from vizkit.compute.clustering import match_clusters

    rng = np.random.default_rng(0)
    first = rng.integers(0, 5, 400)
    renamed = np.array([3, 0, 4, 1, 2])[first]  # the same clusters, numbered otherwise
    moved = renamed.copy()
    moved[:20] = (moved[:20] + 1) % 5  # and a few images moved
    a, b, c = match_clusters([first, renamed, moved])
    np.testing.assert_array_equal(a, first)
    np.testing.assert_array_equal(b, first)
    assert (c == first).mean() >= 0.95
    grown = np.where(first == 0, 5, first)  # a cluster split off (a new one)
    grown[::2] = np.where(first[::2] == 0, 0, grown[::2])
    _, d = match_clusters([first, grown])
    assert set(np.unique(d)) == {0, 1, 2, 3, 4, 5}


def test_score_bars_compare_as_the_numbers_do():
    from vizkit.app.search_page import score_bars

    bars = score_bars(np.array([0.981, 0.973, 0.5]), True)
    assert bars[0] == 1.0 and bars[1] > 0.99 and abs(bars[2] - 0.5 / 0.981) < 1e-9
    dist = score_bars(np.array([1.0, 2.0, 4.0]), False)
    np.testing.assert_allclose(dist, [1.0, 0.5, 0.25])
    assert score_bars(np.array([]), True).size == 0
