"""Plugin discovery through a real entry point, duplicates, and broken plugins."""
import sys
import textwrap

import pytest
import torch

from vizkit import plugins
from vizkit.api.metrics import Metric
from vizkit.registry import get_registry


def make_distribution(tmp_path, dist: str, module: str, source: str, ep_name: str):
    """A separate installed distribution: a module plus its .dist-info with an entry point
    in the group ``vizkit`` — exactly what ``pip install`` leaves behind."""
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    info = tmp_path / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[vizkit]\n{ep_name} = {module}\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("vizkit_test_")]:
        del sys.modules[name]


GOOD = """
    import torch
    from vizkit import hookimpl
    from vizkit.api.metrics import Metric

    @hookimpl
    def register_metrics(register):
        register(Metric("chebyshev", False, lambda a, b: torch.cdist(a, b, p=float("inf"))))
"""


def test_entry_point_plugin_is_found_and_works(site):
    make_distribution(site, "vizkit-chebyshev", "vizkit_test_cheb", GOOD, "chebyshev")
    metric = get_registry().metric("chebyshev")
    a = torch.tensor([[0.0, 0.0]])
    b = torch.tensor([[3.0, -4.0]])
    assert metric.pairwise(a, b).item() == 4.0
    info = {p["name"]: p for p in plugins.get_plugins()}["chebyshev"]
    assert info["distribution"] == "vizkit-chebyshev" and info["version"] == "1.2.3"
    assert info["hooks"] == ["register_metrics"]
    assert plugins.failures() == []


def test_third_party_loss_trains_a_run(site, tmp_path):
    """A pip-installed plugin's loss is listed with its owner and trains like a built-in."""
    make_distribution(site, "vizkit-centre-loss", "vizkit_test_centre", """
        import torch
        from vizkit import hookimpl
        from vizkit.api.losses import Loss

        class PullToClassMean(torch.nn.Module):
            def forward(self, emb, labels):
                means = torch.stack([emb[labels == c].mean(0) for c in labels])
                return (emb - means).pow(2).sum(1).mean()

        @hookimpl
        def register_losses(register):
            register(Loss("centre", lambda c, d: PullToClassMean(),
                          description="pull each embedding to its class mean"))
    """, "centre")
    from vizkit.jobs.train import TrainConfig, train
    from vizkit.store import Store

    reg = get_registry()
    assert reg.owners["loss"]["centre"] == "centre"
    history = train(Store(tmp_path / "s.duckdb"), reg.open_dataset("digits"),
                    TrainConfig(model="vizkit_small_cnn", dataset="digits", epochs=1,
                                loss="centre", embedding_dim=16, classes_per_batch=10,
                                batches_per_epoch=3, eval_images=100, anchors=20),
                    "c", checkpoint_dir=tmp_path / "ck", progress=False)
    assert history[-1]["loss"] > 0 and 0 <= history[-1]["test_recall_at_1"] <= 1
    assert plugins.failures() == []


def test_allow_list_skips_other_entry_points(site, monkeypatch):
    make_distribution(site, "vizkit-chebyshev", "vizkit_test_cheb2", GOOD, "chebyshev")
    monkeypatch.setenv("VIZKIT_PLUGINS", "something-else")
    assert "chebyshev" not in get_registry().items["metric"]


def test_plugin_failing_at_import_is_reported_and_others_work(site):
    make_distribution(site, "vizkit-broken", "vizkit_test_broken",
                      "raise RuntimeError('boom at import')\n", "broken")
    assert get_registry().metric("cosine").name == "cosine"
    (failure,) = plugins.failures()
    assert failure.plugin == "broken" and failure.stage == "import"
    assert "boom at import" in failure.error


def test_plugin_failing_at_registration_is_reported(site):
    make_distribution(site, "vizkit-badreg", "vizkit_test_badreg", """
        from vizkit import hookimpl

        @hookimpl
        def register_datasets(register):
            raise ValueError("no data here")
    """, "badreg")
    reg = get_registry()
    assert "digits" in reg.items["dataset"]
    (failure,) = plugins.failures()
    assert failure.stage == "register_datasets" and "no data here" in failure.error


def test_duplicate_name_names_both_plugins(site):
    make_distribution(site, "vizkit-dup", "vizkit_test_dup", """
        from vizkit import hookimpl
        from vizkit.api.metrics import Metric

        @hookimpl
        def register_metrics(register):
            register(Metric("cosine", True, lambda a, b: a @ b.T))
    """, "dup")
    reg = get_registry()
    (failure,) = plugins.failures()
    assert "Duplicate metric name: cosine, from plugins vizkit_plugins.metrics and dup" \
        in failure.error
    # the first registration stays
    assert reg.owners["metric"]["cosine"] == "vizkit_plugins.metrics"


def test_register_rejects_wrong_type(site):
    make_distribution(site, "vizkit-wrong", "vizkit_test_wrong", """
        from vizkit import hookimpl

        @hookimpl
        def register_metrics(register):
            register("cosine2")
    """, "wrong")
    get_registry()
    (failure,) = plugins.failures()
    assert "takes a Metric" in failure.error


def test_builtins_register_through_the_public_hooks():
    reg = get_registry()
    assert reg.owners["metric"]["cosine"] == "vizkit_plugins.metrics"
    assert reg.owners["dataset"]["fashion-mnist"] == "vizkit_plugins.fashion_mnist"
    assert reg.owners["model"]["timm"] == "vizkit_plugins.timm_models"
    assert {"home", "search"} <= set(reg.items["visualizer"])
    assert isinstance(reg.metric("dot"), Metric)


def test_the_registry_calls_every_hook_through_pluggy():
    """pluggy's hook-call monitoring sees each plugin's register_* call (a registry that
    called the implementations' functions itself would bypass it)."""
    plugins.reset()
    seen = []
    undo = plugins.get_plugin_manager().add_hookcall_monitoring(
        lambda name, impls, kwargs: seen.append((name, [i.plugin_name for i in impls])),
        lambda outcome, name, impls, kwargs: None)
    try:
        registry = get_registry()
        assert registry.metric("cosine")
        assert ("register_metrics", ["vizkit_plugins.metrics"]) in seen
        assert ("register_visualizers", ["vizkit.app.pages"]) in seen
        assert all(len(impls) == 1 for _, impls in seen)  # one plugin per call
    finally:
        undo()
        plugins.reset()
