"""Links that reproduce a view: a page opened with CLI-named query parameters shows that
view, and changing a widget changes the URL to match."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest


def page(name: str, **params) -> AppTest:
    at = AppTest.from_string(f"from vizkit.app.router import run_page\nrun_page({name!r})",
                             default_timeout=120)
    for k, v in params.items():
        at.query_params[k] = v
    return at


@pytest.fixture
def with_store(digits_store, monkeypatch):
    monkeypatch.setenv("VIZKIT_STORE", str(digits_store))


def url(at: AppTest) -> dict[str, str]:
    return {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def test_a_search_link_opens_that_view_and_the_url_follows_changes(with_store):
    at = page("search", dataset="digits", model="vizkit_small_cnn", weights="random",
              layer="stages.2", metric="euclidean", query="digit/0042").run()
    assert not at.exception
    assert at.selectbox(key="search_model").value.startswith("vizkit_small_cnn (random")
    assert at.selectbox(key="search_layer").value == "stages.2"
    assert at.selectbox(key="search_metric").value == "euclidean"
    assert at.session_state["search_query_idx"] == 42
    assert url(at)["query"] == "digit/0042" and url(at)["layer"] == "stages.2"
    at.selectbox(key="search_layer").select("embedding").run()  # the user changes it
    assert url(at)["layer"] == "embedding" and url(at)["metric"] == "euclidean"
    at.selectbox(key="search_metric").select("cosine").run()
    assert url(at)["metric"] == "cosine" and url(at)["layer"] == "embedding"  # not reverted


def test_an_unknown_value_in_a_link_is_ignored(with_store):
    at = page("search", layer="no-such-layer", query="nothing/here").run()
    assert not at.exception and not at.error
    assert url(at)["layer"] != "no-such-layer" and url(at)["query"] != "nothing/here"


def test_a_compare_link_sets_a_and_b(with_store):
    at = page("compare", dataset="digits", model="resnet18", weights="random",
              layer="layer3", metric="cosine", b_model="vizkit_small_cnn",
              b_weights="random", b_layer="embedding", b_metric="dot",
              query="digit/0007").run()
    assert not at.exception
    assert at.selectbox(key="cmp_a_layer").value == "layer3"
    assert at.selectbox(key="cmp_b_layer").value == "embedding"
    assert at.selectbox(key="cmp_b_metric").value == "dot"
    assert url(at)["b_layer"] == "embedding" and url(at)["query"] == "digit/0007"


@pytest.fixture
def with_evolved(evolved_store, monkeypatch):
    monkeypatch.setenv("VIZKIT_STORE", str(evolved_store))


PAGES = [  # page, link, {widget key: expected value (or a text it contains)}
    ("similarity", {"model": "vizkit_small_cnn", "weights": "random", "layer": "stages.2",
                    "metric": "cosine", "query": "digit/0010"},
     {"simmap_layer": "stages.2", "simmap_model": "vizkit_small_cnn (random"}),
    ("grid", {"metric": "dot", "score": "recall_at_1"},
     {"grid_metric": "dot", "grid_score": "recall_at_1"}),
]
EVOLVED_PAGES = [
    ("projection", {"dataset": "digits[test]", "model": "vizkit_small_cnn",
                    "checkpoint": "t:1", "layer": "embedding", "method": "umap",
                    "color": "cluster"},
     {"proj_model": "t:1", "proj_method": "umap", "proj_color": "cluster"}),
    ("evolution", {"run": "t", "layer": "embedding", "dataset": "digits[test]",
                   "method": "umap", "epoch": "1", "draw": "points"},
     {"evo_method": "umap", "evo_epoch": 1, "evo_draw": "points"}),
    ("explorer", {"model": "vizkit_small_cnn", "checkpoint": "t:2", "layer": "stages.1",
                  "channel": "2"},
     {"exp_layer": "stages.1", "exp_channel": 2}),
    ("triplets", {"run": "t-epshn", "b_run": "(none)", "epoch": "1"},
     {"trip_run_a": "t-epshn", "trip_run_b": "(none)", "trip_epoch": 1}),
    ("confusion", {"dataset": "digits[test]", "checkpoint": "t:1"}, {"conf_model": "t:1"}),
    ("explorer", {"checkpoint": "t:2", "layer": "stages.2"},  # a checkpoint names its model
     {"exp_layer": "stages.2"}),
    ("training", {"runs": "t-epshn"}, {"train_runs": ["t-epshn"]}),
    ("spectrum", {"run": "t", "epoch": "1"}, {"spec_run": "t", "spec_epoch": 1}),
]


def _check(name, link, expected):
    at = page(name, **link).run()
    assert not at.exception and not at.error, (name, at.exception, at.error)
    for key, want in expected.items():
        got = at.session_state[key]
        assert got == want or (isinstance(want, str) and want in str(got)), (key, got, want)
    shown = url(at)
    for k, v in link.items():  # the URL keeps saying the view (a link round-trips)
        assert shown.get(k) == v or k == "b_run", (name, k, shown.get(k), v)


@pytest.mark.parametrize("name,link,expected", PAGES, ids=[p[0] for p in PAGES])
def test_every_page_opens_on_its_link(with_store, name, link, expected):
    _check(name, link, expected)


@pytest.mark.parametrize("name,link,expected", EVOLVED_PAGES,
                         ids=[p[0] for p in EVOLVED_PAGES])
def test_every_training_page_opens_on_its_link(with_evolved, name, link, expected):
    _check(name, link, expected)


@pytest.mark.parametrize("store", ["digits_store", "evolved_store"])
def test_every_home_card_opens_its_page_on_that_view(request, monkeypatch, store):
    from vizkit.read.catalog import Reader
    from vizkit.read.showcase import cards

    path = request.getfixturevalue(store)
    monkeypatch.setenv("VIZKIT_STORE", str(path))
    shown = cards(Reader(path))
    expected = {"digits_store": {"search", "grid"},
                "evolved_store": {"explorer", "evolution"}}[store]
    assert expected <= {c.page for c in shown}
    home = page("home").run()
    assert not home.exception and not home.error
    assert all(c.pictures or c.points or c.grid is not None for c in shown)
    for card in shown:  # the link a card carries lands on that view
        at = page(card.page, **card.link).run()
        assert not at.exception and not at.error, (card.page, at.exception, at.error)
        shown_url = url(at)
        assert all(shown_url.get(k) == v for k, v in card.link.items()), (card.page,
                                                                          card.link,
                                                                          shown_url)


def test_the_maps_card_draws_a_stored_pair_and_opens_on_it(digits_store, tmp_path,
                                                          monkeypatch):
    import shutil

    from vizkit.jobs.maps import precompute_maps
    from vizkit.read.catalog import Reader
    from vizkit.read.showcase import maps_card
    from vizkit.registry import get_registry
    from vizkit.runtime.models import load_model
    from vizkit.store import Store

    shutil.copytree(digits_store.parent, tmp_path / "s")
    store = Store(tmp_path / "s" / digits_store.name)
    precompute_maps(store, get_registry().open_dataset("digits"),
                    load_model("vizkit_small_cnn", "random"), "stages.2", "cosine", 4,
                    "first:2", progress=False)
    card = maps_card(Reader(store))
    assert card is not None and len(card.pictures) == 5 and card.link["query"] == "digit/0000"
    monkeypatch.setenv("VIZKIT_STORE", str(store.path))
    at = page("similarity", **card.link).run()
    assert not at.exception and not at.error
    assert at.session_state["simmap_stored_query"] == 0 and url(at)["query"] == "digit/0000"
