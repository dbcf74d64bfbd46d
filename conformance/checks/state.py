"""runtime.md State: the state JSON in every status (checked against state-schema's rules, by hand)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from conformance.harness import Ctx, check, expect, fail, pid_alive

STATUSES = {"creating", "created", "running", "stopped"}
SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def validate(state: dict[str, Any], container_id: str, bundle: Path, annotations: dict[str, str]) -> None:
    for key in ("ociVersion", "id", "status", "bundle"):
        expect(key in state, f"state has no {key!r}")
    expect(isinstance(state["ociVersion"], str) and SEMVER.match(state["ociVersion"]), "ociVersion is not SemVer")
    expect(state["id"] == container_id, f"id is {state['id']!r}")
    expect(state["status"] in STATUSES, f"status {state['status']!r} is not a defined state")
    if state["status"] in ("created", "running"):
        pid = state.get("pid")
        expect(isinstance(pid, int) and pid > 0, f"pid {pid!r} is required on Linux when {state['status']}")
        expect(pid_alive(int(pid)), f"pid {pid} is not a live process on the host")
    bundle_path = state["bundle"]
    expect(isinstance(bundle_path, str) and bundle_path.startswith("/"), f"bundle {bundle_path!r} is not absolute")
    expect(Path(bundle_path).resolve() == bundle.resolve(), f"bundle {bundle_path!r} is not the bundle used")
    got = state.get("annotations") or {}
    if not isinstance(got, dict) or any(not isinstance(v, str) for v in got.values()):
        fail(f"annotations {got!r} is not a string map")
    expect(got == annotations, f"annotations {got!r} differ from the config's {annotations!r}")


@check("state.schema")
def schema(ctx: Ctx) -> None:
    """state returns ociVersion, id, status, pid (host view), bundle and annotations in each status."""
    annotations = {"com.example.conformance": "state-check"}
    c = ctx.container(["sh", "-c", "echo ready; while :; do sleep 1; done"])
    c.config["annotations"] = annotations
    c.create()
    validate(c.must_state(), c.id, c.bundle, annotations)
    c.start()
    c.wait_output("ready")
    state = c.must_state()
    validate(state, c.id, c.bundle, annotations)
    expect(state["status"] == "running", f"status {state['status']!r} while the program runs")
    c.kill("KILL")
    validate(c.wait_status("stopped"), c.id, c.bundle, annotations)
