"""``vizkit plugins``, ``list``, ``layers`` and ``status``: what is installed and stored."""
from __future__ import annotations

import argparse

from vizkit.api.commands import Command
from vizkit.cli import args as a
from vizkit.cli.output import emit, warn

LISTABLE = ["datasets", "models", "metrics", "losses", "indexes", "visualizers", "commands"]


def cmd_plugins(args) -> int:
    from vizkit.plugins import failures, get_plugins
    from vizkit.registry import get_registry

    reg = get_registry()
    plugins = get_plugins()
    for p in plugins:
        p["registers"] = {kind: sorted(n for n, owner in reg.owners[kind].items()
                                       if owner == p["name"]) for kind in reg.owners}
    fails = [f.__dict__ for f in failures()]
    lines = [f"{p['name']} ({p['distribution']} {p['version']}): " + "; ".join(
        f"{k}s: {', '.join(v)}" for k, v in p["registers"].items() if v) for p in plugins]
    lines += [f"FAILED {f['plugin']} at {f['stage']}: {f['error']}" for f in fails]
    emit({"plugins": plugins, "failures": fails}, args.json, "\n".join(lines))
    return 1 if fails else 0


def cmd_list(args) -> int:
    from vizkit.registry import get_registry

    reg = get_registry()
    if args.what == "datasets":
        rows = [{"name": n, "description": e.description, "plugin": reg.owners["dataset"][e.name]}
                for n, e in zip(reg.dataset_names(), reg.items["dataset"].values())]
    elif args.what == "models":
        rows = [{"provider": p.name, "description": p.description, "count": len(p.names())}
                for p in reg.items["model"].values()]
        if args.filter:
            import fnmatch

            rows = [{"name": n} for n in reg.model_names() if fnmatch.fnmatch(n, args.filter)]
    elif args.what == "metrics":
        rows = [{"name": m.name, "higher_is_more_similar": m.higher_is_more_similar,
                 "description": m.description} for m in reg.metrics()]
    elif args.what == "losses":
        rows = [{"name": n, "description": loss.description}
                for n, loss in reg.items["loss"].items()]
    elif args.what == "indexes":
        rows = [{"name": i.name, "exact": i.exact, "description": i.description}
                for i in reg.indexes()]
    elif args.what == "commands":
        rows = [{"name": c.name, "help": c.help, "plugin": reg.owners["command"][c.name]}
                for c in reg.commands()]
    else:
        rows = [{"name": v.name, "title": v.title, "command": v.command_line}
                for v in reg.visualizers()]
    emit(rows, args.json, "\n".join("  ".join(str(v) for v in r.values()) for r in rows))
    return 0


def cmd_layers(args) -> int:
    args.model = args.model_name
    model = a.model(args)
    rows = [{"name": i.name, "kind": i.kind, "shape": list(i.shape)} for i in model.layers()]
    text = "\n".join(f"{r['name']:<24} {r['kind']:<20} {tuple(r['shape'])}" for r in rows)
    emit(rows, args.json, text)
    return 0


def cmd_status(args) -> int:
    store = a.store(args)
    summary = store.summary()
    where = f"{store.bundle} (a bundle, unpacked read-only at {store.path.parent})" \
        if store.bundle else f"{store.path}"
    emit({"store": str(store.bundle or store.path), "unpacked": str(store.path)
          if store.bundle else None, **summary}, args.json,
         f"{where}: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    return 0


def cmd_verify(args) -> int:
    from vizkit.jobs.verify import verify_store

    found = verify_store(a.store(args), repair=args.repair, progress=not args.json)
    for message in found.damaged.values():
        warn(message)
    if args.json:
        emit({"checked": found.checked, "damaged": found.damaged, "removed": found.removed},
             True, "")
    elif not found.damaged:
        print(f"{found.checked} data files verified: every one matches the store.")
    elif found.removed:
        print(f"Removed {len(found.removed)} results ({', '.join(found.removed)}); run the "
              "jobs that made them again to rebuild them.")
    return 1 if found.damaged and not found.removed else 0


def _verify_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--repair", action="store_true",
                    help="drop the damaged results (and those made from them) so that "
                         "running their jobs again rebuilds them")
    _json(sp)


def _json(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--json", action="store_true")


def _list_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("what", choices=LISTABLE)
    sp.add_argument("--filter", help="models: a glob such as 'resnet*'")
    _json(sp)


def _layers_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("model_name", metavar="model")
    a.add_weights(sp, "random", "random (default), pretrained, or a weights file")
    sp.add_argument("--checkpoint", type=a.checkpoint_spec)
    a.add_input_size(sp)
    _json(sp)


COMMANDS = [
    Command("plugins", "installed plugins and what they register", _json, cmd_plugins),
    Command("list", "list datasets, models, metrics, losses, indexes, visualizers or commands",
            _list_args, cmd_list),
    Command("layers", "a model's inspectable layers and output shapes", _layers_args,
            cmd_layers),
    Command("status", "what the store holds", _json, cmd_status),
    Command("verify", "check every data file of the store against what it recorded",
            _verify_args, cmd_verify),
]
