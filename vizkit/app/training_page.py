"""Training: the runs in the store with their configurations, Recall@K, MAP@R, NMI and
the loss epoch by epoch, several runs on one chart, and a learning-rate sweep's last test
Recall@1 against the learning rate, one line per loss."""
from __future__ import annotations

import plotly.express as px
import streamlit as st

from vizkit import palette
from vizkit.app import data, links
from vizkit.read.runs import metric_history, run_table, sweep_curves

METRIC_TITLES = {"recall_at_1": "Recall@1", "recall_at_2": "Recall@2",
                 "recall_at_4": "Recall@4", "recall_at_8": "Recall@8",
                 "recall_at_10": "Recall@10", "recall_at_100": "Recall@100",
                 "recall_at_1000": "Recall@1000", "map_at_r": "MAP@R",
                 "nmi": "NMI", "loss": "training loss"}


def render() -> None:
    st.title("Training")
    reader = data.reader()
    table = run_table(reader)
    st.markdown("**Runs** (configuration and last test metrics)")
    st.dataframe(table, hide_index=True, key="train_runs_table")
    names = table["run"].tolist()
    url = links.incoming()
    if "runs" in url and set(url["runs"].split(",")) <= set(names):
        st.session_state["train_runs"] = url["runs"].split(",")
    chosen = st.multiselect("Runs on the charts", names, default=names[:4], key="train_runs")
    links.publish({"runs": ",".join(chosen)})
    if not chosen:
        st.info("Pick one or more runs.")
        return
    history = metric_history(reader, chosen)
    if history.empty:
        st.info("These runs have no checkpoints yet.")
        return
    c1, c2 = st.columns([3, 1])
    present = set(history["metric"])
    metrics = c1.multiselect("Metrics", [m for m in METRIC_TITLES if m in present - {"loss"}],
                             default=[m for m in ("recall_at_1", "recall_at_8",
                                                  "recall_at_10", "map_at_r", "nmi")
                                      if m in present],
                             format_func=METRIC_TITLES.get, key="train_metrics")
    splits = c2.multiselect("Evaluated on", sorted(set(history["split"])),
                            default=["test"] if "test" in set(history["split"]) else None,
                            key="train_splits")
    shown = history[history["metric"].isin(metrics) & history["split"].isin(splits)]
    if not shown.empty:
        shown = shown.assign(metric=shown["metric"].map(METRIC_TITLES))
        fig = px.line(shown, x="epoch", y="value", color="run", line_dash="split",
                      facet_col="metric", facet_col_wrap=2, markers=True, height=520,
                      color_discrete_map=palette.run_colours(chosen),
                      category_orders={"metric": [METRIC_TITLES[m] for m in metrics]})
        fig.update_yaxes(matches=None, showticklabels=True)
        fig.update_xaxes(dtick=1)
        fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
        st.plotly_chart(fig, key="train_metric_chart")
    curves = sweep_curves(reader, chosen)
    if not curves.empty:
        st.markdown("**Learning-rate sweep**: test Recall@1 at each run's last epoch against "
                    "its learning rate, one line per loss")
        fig = px.line(curves, x="lr", y="test_recall_at_1", color="loss", markers=True,
                      log_x=True, height=320, hover_data={"run": True, "epoch": True},
                      color_discrete_map=palette.run_colours(curves["loss"]),
                      labels={"lr": "learning rate", "test_recall_at_1": "test Recall@1"})
        st.plotly_chart(fig, key="train_sweep_chart")
    loss = history[history["metric"] == "loss"]
    if not loss.empty:
        st.markdown("**Training loss** (mean over each epoch's batches; one panel per run, "
                    "each on its own scale: losses of different kinds do not compare)")
        fig = px.line(loss, x="epoch", y="value", color="run", facet_col="run",
                      facet_col_wrap=4, markers=True, height=300,
                      color_discrete_map=palette.run_colours(chosen))
        fig.update_xaxes(dtick=1)
        fig.update_yaxes(matches=None, showticklabels=True)
        fig.update_layout(showlegend=False)
        fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
        st.plotly_chart(fig, key="train_loss_chart")
