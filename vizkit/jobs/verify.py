"""``vizkit verify``: every data file of the store checked against its catalog row (size,
SHA-256, shape, type, neighbour ids), and with ``repair`` the damaged results — and those
made from them — dropped so that re-running their jobs rebuilds them."""
from __future__ import annotations

from dataclasses import dataclass, field

from vizkit.errors import StoreError
from vizkit.progress import bar
from vizkit.store import Store, shards


@dataclass
class Verification:
    """What ``vizkit verify`` found: files checked, the damaged ones by result key (the
    first problem of each), and the results removed by a repair."""

    checked: int = 0
    damaged: dict[str, str] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)


def verify_store(store: Store, repair: bool = False, progress: bool = True) -> Verification:
    """Check every recorded data file in full; with ``repair``, drop the damaged results."""
    out = Verification()
    files = store.all_shards()
    with bar(total=sum(f.bytes for f in files), desc="verify", unit="B", unit_scale=True,
             disable=not progress) as b:
        for shard in files:
            try:
                shards.verify(shard)
            except StoreError as e:
                out.damaged.setdefault(shard.result_key, str(e))
            out.checked += 1
            b.update(shard.bytes)
    if repair and out.damaged:
        out.removed = store.drop_results(sorted(out.damaged))
    return out
