"""``vizkit search`` and ``vizkit export-features``: reading stored features."""
from __future__ import annotations

import argparse
from pathlib import Path

from vizkit.cli import args as a
from vizkit.cli.output import emit
from vizkit.errors import BadArgumentError, VizkitError


def stored_features(store, args) -> dict:
    """The stored features the options name — found without loading the model, unless
    ``--weights`` is a file (whose digest pins them)."""
    from vizkit.checkpoints import resolve_checkpoint
    from vizkit.query import features_row

    if not args.model and not args.checkpoint:
        raise BadArgumentError("give --model or --checkpoint.")
    if args.checkpoint:
        row = resolve_checkpoint(store, args.checkpoint)
        return features_row(store, args.dataset, row["model"], args.layer,
                            weights_fp=row["weights_fp"], input_size=args.input_size)
    if args.weights in ("pretrained", "random"):
        return features_row(store, args.dataset, args.model, args.layer, weights=args.weights,
                            input_size=args.input_size)
    model = a.model(args, store)
    return features_row(store, args.dataset, model.name, args.layer,
                        weights_fp=model.weights_fingerprint, input_size=args.input_size)


def cmd_search(args) -> int:
    import numpy as np

    from vizkit.images import decode_image, to_array
    from vizkit.query import index_of, input_size_of, search_by_index, search_by_vector
    from vizkit.registry import get_registry

    store = a.store(args)
    metric = get_registry().metric(args.metric)
    frow = stored_features(store, args)
    if args.image:
        path = Path(args.image)
        if path.is_dir():
            raise BadArgumentError(f"{path} is a folder; --image takes one image file.")
        if not path.is_file():
            raise BadArgumentError(f"{path} does not exist.")
        image = to_array(decode_image(path))
        # the query is embedded exactly as the stored images were: same weights, same size
        model = a.model(args, store, input_size=input_size_of(frow))
        if model.weights_fingerprint != frow["weights_fp"]:
            raise VizkitError("The model's weights are not those the stored features were "
                              "computed with; re-run the precompute job.")
        vec = model.embed_images([image], [args.layer])[args.layer][0]
        table = search_by_vector(store, frow, metric, vec, args.k)
    else:
        table = search_by_index(store, frow, metric, index_of(store, frow["dataset_key"],
                                                               args.query_id), args.k)
    rows = [{"rank": int(r.rank), "id": r.id, "label": int(r.label), "score": float(r.score)}
            for r in table.itertuples()]
    text = "\n".join(f"{r['rank']:>3}  {r['id']:<24} {r['label']:>3}  {r['score']:.4f}"
                     for r in rows)
    emit(rows, args.json, text)
    return 0 if np.isfinite([r["score"] for r in rows]).all() else 1


def cmd_export(args) -> int:
    import numpy as np

    store = a.store(args)
    frow = stored_features(store, args)
    matrix = store.features(frow["result_key"])
    table = store.image_table(frow["dataset_key"])
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


def add_parsers(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("search", help="the k most similar images to a query")
    sp.add_argument("--dataset", required=True)
    a.add_model_args(sp)
    sp.add_argument("--layer", required=True)
    sp.add_argument("--metric", default="cosine")
    q = sp.add_mutually_exclusive_group(required=True)
    q.add_argument("--query-id", help="an image id of the dataset (or its position)")
    q.add_argument("--image", help="an image file")
    sp.add_argument("--k", type=a.integer(1, a.MAX_K), default=50)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_search)
    sp = sub.add_parser("export-features", help="write stored features to .npy or .parquet")
    sp.add_argument("--dataset", required=True)
    a.add_model_args(sp)
    sp.add_argument("--layer", required=True)
    sp.add_argument("--out", required=True)
    sp.set_defaults(func=cmd_export)
