"""`list` output in runc's two formats: a padded table or a JSON array."""

from __future__ import annotations

from ociruntime import errors
from ociruntime.state.store import Observed, Store

_COLUMNS = ("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")


def observe_all(store: Store) -> list[Observed]:
    found: list[Observed] = []
    for container_id in store.list_ids():
        try:
            found.append(store.observe(container_id))
        except (errors.ContainerNotFound, errors.StateError):
            continue  # deleted while we listed, or not ours to show
    return found


def render_list(store: Store, *, fmt: str, quiet: bool) -> str:
    containers = observe_all(store)
    if quiet:
        return "".join(o.record.id + "\n" for o in containers)
    if fmt == "json":
        import json  # only for this format: the table and -q need no json (5.6 ms of import)

        # runc prints `null` for no containers (a nil Go slice); engines accept both, we follow runc.
        docs = [o.oci_state() for o in containers]
        return json.dumps(docs or None, separators=(",", ":")) + "\n"
    rows = [list(_COLUMNS)] + [
        [s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"]]
        for s in (o.oci_state() for o in containers)
    ]
    return _table(rows)


def _table(rows: list[list[str]]) -> str:
    """Like Go's tabwriter with minwidth 12, padding 3, as runc uses: the last column is not padded."""
    widths = [max(12, max(len(r[i]) for r in rows) + 3) for i in range(len(rows[0]) - 1)]
    return "".join("".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + r[-1] + "\n" for r in rows)
