"""Shared helpers of the reliability ring: faults, load, soak, hostile input, recovery (RELIABILITY.md).

Every module here sets `pytestmark = [pytest.mark.root, pytest.mark.reliability]`. Sizes come from the
environment so that CI runs a short version and a person runs the full one:

    OCIRUNTIME_SOAK_CYCLES      create/start/exec/kill/delete cycles of the soak (default 50; full: 1000)
    OCIRUNTIME_FUZZ_EXAMPLES    hypothesis examples per fuzz target (default 25; full: 300)
    OCIRUNTIME_STORM_COMMANDS   concurrent commands per storm (default 100)

At the end of the session the figures (scenarios, faults injected, inputs fuzzed, leaks) are printed.
"""

from __future__ import annotations

import json
import marshal
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ociruntime.state.store import LEGACY_STATE_FILE, STATE_FILE
from tests.conftest import Bundle, Runtime, cgroup_dirs, processes_mentioning

FIGURES: Counter[str] = Counter()
RUNTIME_ERROR = re.compile(r"^ociruntime: \S.*\n?$")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "reliability: the reliability ring (tests/reliability, RELIABILITY.md)")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        line = ", ".join(f"{key} {value}" for key, value in sorted(FIGURES.items()))
        terminalreporter.write_line(f"reliability figures: {line}")


@pytest.fixture
def count() -> Callable[[str, int], None]:
    def add(key: str, n: int = 1) -> None:
        FIGURES[key] += n

    return add


def assert_clean_exit(result: Any, *, allowed: tuple[int, ...] = (0, 1)) -> None:
    """Success, or one `ociruntime: ...` line on stderr and status 1: never a traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in allowed, f"rc={result.returncode} stderr={result.stderr!r}"
    if result.returncode != 0:
        # Warnings about the config (ociruntime: warning: ...) may come first; then exactly one error line.
        lines = result.stderr.splitlines(keepends=True)
        errors = "".join(line for line in lines if not line.startswith("ociruntime: warning: "))
        assert RUNTIME_ERROR.fullmatch(errors), f"not one error line: {result.stderr!r}"


def read_state_file(runtime: Runtime, container_id: str) -> dict[str, Any]:
    """The container's record as the runtime stores it (state.marshal: a dict of plain values)."""
    doc = marshal.loads((runtime.root / container_id / STATE_FILE).read_bytes())
    assert isinstance(doc, dict), doc
    return doc


def write_state_file(runtime: Runtime, container_id: str, content: object, *, legacy: bool = False) -> None:
    """Replace the container's state file by `content`: bytes as they are, anything else encoded.

    legacy: as an earlier version stored it (state.json, JSON text) instead of state.marshal.
    Only one of the two files is left, as the runtime itself leaves it.
    """
    directory = runtime.root / container_id
    name, other, encode = (
        (LEGACY_STATE_FILE, STATE_FILE, encode_legacy) if legacy else (STATE_FILE, LEGACY_STATE_FILE, marshal.dumps)
    )
    (directory / name).write_bytes(content if isinstance(content, bytes) else encode(content))
    (directory / other).unlink(missing_ok=True)


def encode_legacy(doc: object) -> bytes:
    """JSON as earlier versions wrote state.json (compact separators)."""
    return json.dumps(doc, separators=(",", ":")).encode()


def process_alive(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZXx"


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def wait_status(runtime: Runtime, container_id: str, status: str, timeout: float = 10.0) -> None:
    wait_until(lambda: runtime.state(container_id)["status"] == status, timeout, f"{container_id} {status}")


def cgroup_pids(bundle: Bundle) -> list[int]:
    found: set[int] = set()
    for top in cgroup_dirs(bundle.cgroup):
        for directory, _dirs, _files in os.walk(top):
            try:
                found.update(int(x) for x in Path(directory, "cgroup.procs").read_text().split())
            except OSError:
                continue
    return sorted(found)


def assert_no_trace(runtime: Runtime, bundle: Bundle, container_id: str, pids: tuple[int, ...] = ()) -> None:
    """Nothing of the container is left: state dir (and fifo), cgroups, mounts, processes."""
    assert not (runtime.root / container_id).exists(), f"state dir left: {os.listdir(runtime.root / container_id)}"
    assert cgroup_dirs(bundle.cgroup) == [], f"cgroups left behind for {bundle.cgroup}"
    with open("/proc/self/mountinfo") as f:
        assert [line for line in f if str(bundle.path) in line] == []
    assert processes_mentioning(str(runtime.root)) == []
    for pid in pids:
        assert not process_alive(pid), f"process {pid} survived"


@pytest.fixture
def devnull() -> Iterator[Any]:
    with open(os.devnull, "rb") as f:
        yield f
