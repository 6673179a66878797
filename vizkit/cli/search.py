"""``vizkit search`` and ``vizkit export-features``: reading stored features."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from vizkit.api.commands import Command
from vizkit.cli import args as a
from vizkit.cli.output import emit
from vizkit.errors import BadArgumentError
from vizkit.read.rows import FeaturesRow


def stored_features(reader, args) -> FeaturesRow:
    """The stored features the options name — found without loading the model, unless
    ``--weights`` is a file (whose digest pins them)."""
    from vizkit.read.query import find_features
    from vizkit.runtime.models import resolve_checkpoint

    if not args.model and not args.checkpoint:
        raise BadArgumentError("give --model or --checkpoint.")
    if args.checkpoint:
        row = resolve_checkpoint(reader.store, args.checkpoint)
        return find_features(reader, args.dataset, row["model"], args.layer,
                             weights_fp=row["weights_fp"], input_size=args.input_size)
    if args.weights in ("pretrained", "random"):
        return find_features(reader, args.dataset, args.model, args.layer,
                             weights=args.weights, input_size=args.input_size)
    model = a.model(args, reader.store)
    return find_features(reader, args.dataset, model.name, args.layer,
                         weights_fp=model.weights_fingerprint, input_size=args.input_size)


def cmd_search(args) -> int:
    import numpy as np

    from vizkit.errors import ImageDecodeError
    from vizkit.images import decode_image, to_array
    from vizkit.read.catalog import Reader
    from vizkit.read.query import Query, search
    from vizkit.registry import get_registry

    reader = Reader(a.store(args))
    metric = get_registry().metric(args.metric)
    frow = stored_features(reader, args)
    if args.image:
        path = Path(args.image)
        if path.is_dir():
            raise BadArgumentError(f"{path} is a folder; --image takes one image file.")
        if not path.is_file():
            raise BadArgumentError(f"{path} does not exist.")
        # embedded as the stored images were: the same weights, at the same input size
        try:
            query = Query(image=to_array(decode_image(path)))
        except ImageDecodeError as e:
            raise BadArgumentError(f"--image {path}: {e}") from None
    else:
        query = Query(image_id=args.query_id)
    table = search(reader, frow, metric, query, args.k)
    rows = [{"rank": int(r.rank), "id": r.id, "label": int(r.label), "score": float(r.score)}
            for r in table.itertuples()]
    text = "\n".join(f"{r['rank']:>3}  {r['id']:<24} {r['label']:>3}  {r['score']:.4f}"
                     for r in rows)
    emit(rows, args.json, text)
    return 0 if np.isfinite([r["score"] for r in rows]).all() else 1


def cmd_export(args) -> int:
    import numpy as np

    from vizkit.read.catalog import Reader

    reader = Reader(a.store(args))
    frow = stored_features(reader, args)
    matrix = reader.matrix(frow.result_key)
    table = reader.images(frow.dataset).table
    out = Path(args.out)
    if out.suffix not in (".npy", ".parquet"):
        raise BadArgumentError(f"--out must end in .npy or .parquet, not "
                               f"{out.suffix or '(none)'}.")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, matrix)
        table[["image_id", "label", "split"]].to_csv(out.with_suffix(".ids.csv"), index=False)
        print(f"wrote {out} {matrix.shape} and {out.with_suffix('.ids.csv')}")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        vec = pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), matrix.shape[1])
        pq.write_table(pa.table({"id": table["image_id"], "label": table["label"],
                                 "split": table["split"], "feature": vec}), out)
        print(f"wrote {out} ({matrix.shape[0]} rows, {matrix.shape[1]} dims)")
    return 0


def cmd_index(args) -> int:
    from vizkit.jobs.index import build_index
    from vizkit.read.catalog import Reader
    from vizkit.registry import get_registry

    registry = get_registry()
    metric, kind = registry.metric(args.metric), registry.index(args.kind)
    store = a.store(args)
    frow = stored_features(Reader(store), args)
    options = {"recall": args.recall, "k": args.recall_k}
    row = build_index(store, store.result(frow.result_key), metric, kind, options,
                      progress=not args.quiet)
    params = json.loads(row["params"])
    recall = "" if params.get("exact") else \
        f"; recall@{params['recall_k']} {params['recall']:.3f} on {params['recall_queries']} " \
        "queries (search re-ranks exactly)"
    print(f"{kind.name} index of {frow.label} / {frow.layer} ({metric.name}) built in "
          f"{params['build_seconds']:.1f} s{recall}; stored in {store.path}")
    return 0


def _search_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--dataset", required=True)
    a.add_model_args(sp)
    sp.add_argument("--layer", required=True)
    sp.add_argument("--metric", default="cosine")
    q = sp.add_mutually_exclusive_group(required=True)
    q.add_argument("--query-id", help="an image id of the dataset (or its position)")
    q.add_argument("--image", help="an image file")
    sp.add_argument("--k", type=a.integer(1, a.MAX_K), default=50)
    sp.add_argument("--json", action="store_true")


def _export_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--dataset", required=True)
    a.add_model_args(sp)
    sp.add_argument("--layer", required=True)
    sp.add_argument("--out", required=True)


def _index_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--dataset", required=True)
    a.add_model_args(sp)
    sp.add_argument("--layer", required=True)
    sp.add_argument("--metric", default="cosine")
    sp.add_argument("--kind", default="faiss-ivf", help="see `vizkit list indexes`")
    sp.add_argument("--recall", type=a.real(0, 1, low_open=True), default=0.97,
                    help="recall@k to reach, measured against exact search on a sample")
    sp.add_argument("--recall-k", type=a.integer(1, 1000), default=50)
    a.add_quiet(sp)


COMMANDS = [
    Command("search", "the k most similar images to a query", _search_args, cmd_search),
    Command("export-features", "write stored features to .npy or .parquet", _export_args,
            cmd_export),
    Command("index", "a nearest-neighbour index of stored features (its recall measured)",
            _index_args, cmd_index),
]
