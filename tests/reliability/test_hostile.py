"""Hostile input: a fuzzer (hypothesis) over config.json, the `exec --process` file and `update --resources`,
and hostile places: a rootfs that is a symlink or on a read-only filesystem, a state root on a full tmpfs.

Inputs start from documents of the schema's shape (the example config, with resources, rlimits and seccomp
added), then one or more fields get a value of the wrong type, a boundary value, an oversized or deeply
nested one, or junk; some documents are replaced whole by random bytes (non-UTF-8 included).
The runtime must answer with success or one error line (never a traceback, exit 0 or 1), and a failed
`create` must leave nothing: no state dir, no cgroup, no process.

Fuzzed configs never escape the test's sandbox: cgroupsPath stays under the session's parent, the
container always gets a new mount namespace, and namespace paths, hooks and rootfs propagation go.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Bundle, BundleFactory, Runtime, cgroup_dirs, new_id, processes_mentioning
from tests.reliability.conftest import assert_clean_exit, assert_no_trace, env_int, read_state_file

pytestmark = [pytest.mark.root, pytest.mark.reliability]

EXAMPLES = env_int("OCIRUNTIME_FUZZ_EXAMPLES", 25)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=os.environ.get("CI") == "true",
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
Path_ = tuple[str | int, ...]

# --- strategies ------------------------------------------------------------------------------------------

BOUNDARY_INTS = [-1, 0, 1, 2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30]
BOUNDARY_STRINGS = ["", " ", "\x00", "../../../../etc", "/", "a" * 5000, "\udcff", "☃" * 100, "-1", "0x10", "1e400"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(BOUNDARY_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(BOUNDARY_STRINGS),
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12,
)


def deep(depth: int, kind: str) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


special = st.one_of(
    st.just("x" * 1_000_000),
    # A new list each time: a test case may change what it holds, and a shared one would carry that
    # into the next test case (hypothesis then finds its replay differing: FlakyStrategyDefinition).
    st.builds(lambda: list(range(100_000))),
    st.builds(deep, st.sampled_from([50, 500, 5000]), st.sampled_from(["list", "dict"])),
)
values = st.one_of(junk, junk, junk, special)


def paths_of(doc: Any, prefix: Path_ = ()) -> list[Path_]:
    found: list[Path_] = [prefix]
    if len(prefix) > 12:
        return found  # inside an injected deep nesting: its top is enough
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += paths_of(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += paths_of(value, (*prefix, i))
    return found


def set_at(doc: Any, path: Path_, value: Any, delete: bool) -> Any:
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    doc: Any = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        candidates = paths_of(doc)
        # An index with fixed bounds, not sampled_from(candidates): hypothesis replays a test case by its
        # choices and requires each draw's bounds to be the same the second time (else it raises
        # FlakyStrategyDefinition), while the number of paths depends on the values drawn before.
        path = candidates[draw(st.integers(0, 1 << 16)) % len(candidates)]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        value = draw(values)
        if action == "add" and isinstance(_get(doc, path), dict):
            _get(doc, path)[draw(st.text(max_size=12))] = value
        else:
            doc = set_at(doc, path, value, delete=action == "delete" and bool(path))
    return doc


def _get(doc: Any, path: Path_) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def encode(doc: Any, mode: str) -> bytes:
    """JSON text; for some examples with invalid UTF-8 spliced into a string, or truncated."""
    try:
        text = json.dumps(doc, ensure_ascii=False, allow_nan=True)
    except (ValueError, RecursionError):
        text = "[" * 100_000 + "]" * 100_000
    raw = text.encode("utf-8", errors="surrogateescape")
    if mode == "bad-utf8" and b'"' in raw:
        i = raw.index(b'"') + 1
        raw = raw[:i] + b"\xff\xfe\xc3" + raw[i:]
    elif mode == "truncated":
        raw = raw[: len(raw) // 2]
    return raw


documents = st.sampled_from(["plain", "plain", "plain", "bad-utf8", "truncated"])
random_bytes = st.binary(max_size=2000)

# --- the sandbox guard -----------------------------------------------------------------------------------


def sandboxed(doc: Any, bundle: Bundle) -> Any:
    """Keep a fuzzed config from touching the host: our cgroup, a new mount ns, no hooks or ns paths."""
    if not isinstance(doc, dict):
        return doc
    doc.pop("hooks", None)
    linux = doc.get("linux")
    if isinstance(linux, dict):
        linux["cgroupsPath"] = bundle.cgroup
        linux.pop("rootfsPropagation", None)
        if isinstance(linux.get("namespaces"), list):
            spaces = [n for n in linux["namespaces"] if not (isinstance(n, dict) and "path" in n)]
            if not any(isinstance(n, dict) and n.get("type") == "mount" for n in spaces):
                spaces.append({"type": "mount"})
            linux["namespaces"] = spaces
        else:
            linux["namespaces"] = [{"type": "mount"}, {"type": "pid"}]
    else:
        doc["linux"] = {"cgroupsPath": bundle.cgroup, "namespaces": [{"type": "mount"}, {"type": "pid"}]}
    root = doc.get("root")
    if isinstance(root, dict) and root.get("path") != str(bundle.rootfs):
        root["path"] = str(bundle.rootfs)  # junk root paths are the rootfs tests' business below
    return doc


def rich_config(bundle: Bundle) -> dict[str, Any]:
    config = copy.deepcopy(bundle.config)
    config["process"]["args"] = ["true"]
    config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    config["linux"]["resources"] = resources_base()
    config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "0"}
    return config


def resources_base() -> dict[str, Any]:
    return {
        "memory": {"limit": 268435456, "reservation": 134217728},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
        "pids": {"limit": 200},
        "blockIO": {"weight": 100},
    }


# --- config.json -----------------------------------------------------------------------------------------


@pytest.fixture
def fuzz_bundle(make_bundle: BundleFactory) -> Bundle:
    bundle = make_bundle(["true"])
    bundle.config = rich_config(bundle)
    return bundle.write()


def check_create(runtime: Runtime, bundle: Bundle, raw: bytes, count: Callable[[str, int], None]) -> None:
    (bundle.path / "config.json").write_bytes(raw)
    cid = new_id()
    try:
        result = runtime("create", "-b", str(bundle.path), cid, stdin=subprocess.DEVNULL, timeout=30)
    finally:
        count("config.json inputs fuzzed", 1)
    assert_clean_exit(result)
    if result.returncode == 0:
        count("fuzzed configs accepted", 1)
        runtime.ok("delete", "--force", cid)
    assert_no_trace(runtime, bundle, cid)


def test_fuzz_config(runtime: Runtime, fuzz_bundle: Bundle, count: Callable[[str, int], None], no_trace: None) -> None:
    base = fuzz_bundle.config

    @FUZZ
    @given(doc=mutated(base), mode=documents)
    def run(doc: Any, mode: str) -> None:
        check_create(runtime, fuzz_bundle, encode(sandboxed(doc, fuzz_bundle), mode), count)

    run()


def test_fuzz_config_random_bytes(
    runtime: Runtime, fuzz_bundle: Bundle, count: Callable[[str, int], None], no_trace: None
) -> None:
    @FUZZ
    @given(raw=random_bytes)
    def run(raw: bytes) -> None:
        check_create(runtime, fuzz_bundle, raw, count)

    run()


def test_config_oversized_and_deep(
    runtime: Runtime, fuzz_bundle: Bundle, count: Callable[[str, int], None], no_trace: None
) -> None:
    """The extremes, every run: 100k-deep nesting, a 50 MB string, 10^5 mounts, a huge number."""
    base = fuzz_bundle.config
    cases: list[bytes] = [
        b"[" * 200_000 + b"]" * 200_000,
        b'{"ociVersion": "' + b"x" * 50_000_000 + b'"}',
        json.dumps({**base, "mounts": [{"destination": f"/m{i}", "type": "tmpfs"} for i in range(100_000)]}).encode(),
        json.dumps({**base, "process": {**base["process"], "user": {"uid": 2**200}}}).encode(),
        json.dumps(base).replace('"true"', '"tr\\ud800ue"').encode(),
        b"\xef\xbb\xbf" + json.dumps(base).encode(),  # a UTF-8 byte order mark
        b"",
    ]
    for raw in cases:
        check_create(runtime, fuzz_bundle, raw, count)


# --- exec --process and update --resources against a running container -----------------------------------


@pytest.fixture
def running(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> Iterator[tuple[str, Bundle]]:
    bundle = make_bundle(["sleep", "1000"])
    cid = new_id()
    runtime.ok("run", "-d", "-b", str(bundle.path), cid, stdin=subprocess.DEVNULL)
    yield cid, bundle
    runtime("delete", "--force", cid)
    assert_no_trace(runtime, bundle, cid)


def after_each(runtime: Runtime, cid: str) -> None:
    """The container is still whole: its state parses, and no runtime process lingers."""
    read_state_file(runtime, cid)
    assert processes_mentioning(str(runtime.root)) == []


def test_fuzz_exec_process_file(
    runtime: Runtime, running: tuple[str, Bundle], tmp_path: Path, count: Callable[[str, int], None]
) -> None:
    cid, bundle = running
    base = copy.deepcopy(bundle.config["process"])
    base["args"] = ["true"]
    process_file = tmp_path / "process.json"

    @FUZZ
    @given(doc=mutated(base), mode=documents)
    def run(doc: Any, mode: str) -> None:
        process_file.write_bytes(encode(doc, mode))
        result = runtime("exec", "-d", "--process", str(process_file), cid, stdin=subprocess.DEVNULL, timeout=30)
        count("exec --process inputs fuzzed", 1)
        assert_clean_exit(result)
        after_each(runtime, cid)

    run()




def test_update_resources_wrong_type(runtime: Runtime, running: tuple[str, Bundle], tmp_path: Path) -> None:
    cid, _bundle = running
    resources_file = tmp_path / "resources.json"
    resources_file.write_text(json.dumps({"memory": "x"}))
    assert_clean_exit(runtime("update", "--resources", str(resources_file), cid))


def test_fuzz_update_resources(
    runtime: Runtime, running: tuple[str, Bundle], tmp_path: Path, count: Callable[[str, int], None]
) -> None:
    cid, bundle = running
    if "update" not in runtime("--help").stdout + runtime("--help").stderr:
        pytest.skip("no update command yet")
    resources_file = tmp_path / "resources.json"

    @FUZZ
    @given(doc=mutated(resources_base()), mode=documents)
    def run(doc: Any, mode: str) -> None:
        resources_file.write_bytes(encode(doc, mode))
        result = runtime("update", "--resources", str(resources_file), cid, stdin=subprocess.DEVNULL, timeout=30)
        count("update --resources inputs fuzzed", 1)
        assert_clean_exit(result)
        after_each(runtime, cid)
        assert cgroup_dirs(bundle.cgroup), "the container's cgroup went away"

    run()


# --- hostile places --------------------------------------------------------------------------------------


def test_rootfs_is_a_symlink(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    """root.path a symlink to a real rootfs: it works (resolved once, on the host), or fails cleanly."""
    bundle = make_bundle(["sleep", "1000"], copy_rootfs=True)
    (bundle.path / "real-rootfs").mkdir()
    os.rename(bundle.path / "rootfs", bundle.path / "real-rootfs" / "fs")
    os.symlink("real-rootfs/fs", bundle.path / "rootfs")
    cid = new_id()
    result = runtime("create", "-b", str(bundle.path), cid, stdin=subprocess.DEVNULL)
    assert_clean_exit(result)
    if result.returncode == 0:
        runtime.ok("start", cid)
        runtime.ok("exec", cid, "ls", "/bin/busybox", stdin=subprocess.DEVNULL)
        runtime.ok("delete", "--force", cid)
    assert_no_trace(runtime, bundle, cid)


def test_rootfs_symlink_pointing_nowhere(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["true"], copy_rootfs=True)
    os.rename(bundle.path / "rootfs", bundle.path / "elsewhere")
    os.symlink("/nonexistent/rootfs", bundle.path / "rootfs")
    cid = new_id()
    result = runtime("create", "-b", str(bundle.path), cid, stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert_clean_exit(result)
    assert_no_trace(runtime, bundle, cid)


@pytest.fixture
def read_only_rootfs(make_bundle: BundleFactory) -> Iterator[Bundle]:
    """A copy of the rootfs, bind-mounted read-only onto itself (unmounted again by the test or here)."""
    bundle = make_bundle(["sleep", "1000"], copy_rootfs=True)
    rootfs = str(bundle.rootfs)
    subprocess.run(["mount", "--bind", rootfs, rootfs], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", rootfs], check=True)
        yield bundle
    finally:
        unmount(bundle)


def unmount(bundle: Bundle) -> None:
    with open("/proc/self/mountinfo") as f:
        mounted = any(line.split()[4] == str(bundle.rootfs) for line in f)
    if mounted:
        subprocess.run(["umount", str(bundle.rootfs)], check=True)


@pytest.mark.parametrize("readonly", [True, False])
def test_rootfs_on_read_only_filesystem(runtime: Runtime, read_only_rootfs: Bundle, readonly: bool) -> None:
    """On a read-only filesystem, with root.readonly true or false: it runs, or fails with one line."""
    bundle = read_only_rootfs
    bundle.config["root"]["readonly"] = readonly
    bundle.write()
    cid = new_id()
    result = runtime("create", "-b", str(bundle.path), cid, stdin=subprocess.DEVNULL)
    assert_clean_exit(result)
    if result.returncode == 0:
        runtime.ok("start", cid)
        runtime.ok("exec", cid, "true", stdin=subprocess.DEVNULL)
        runtime.ok("delete", "--force", cid)
    unmount(bundle)  # our own read-only bind mount: whatever is left after it is the runtime's
    assert_no_trace(runtime, bundle, cid)
    print(f"read-only rootfs, root.readonly={readonly}: rc={result.returncode} {result.stderr.strip()}")


@pytest.fixture
def full_tmpfs(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A 1 MiB tmpfs for --root and a filler file on it; yields (mountpoint, filler)."""
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint, mountpoint / "filler"
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill(filler: Path) -> None:
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(100_000):  # bounded: 6 GB, far more than the 1 MiB tmpfs
            os.write(fd, b"\0" * 65536)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_state_root_on_full_tmpfs(
    make_bundle: BundleFactory, full_tmpfs: tuple[Path, Path], count: Callable[[str, int], None]
) -> None:
    """create on a full state root: one clear line and nothing left; a container made before the disk
    filled up keeps a readable state and can still be deleted."""
    from tests.conftest import Runtime as Driver
    from tests.conftest import runtime_binary

    mountpoint, filler = full_tmpfs
    runtime = Driver(runtime_binary(), mountpoint / "state")
    older = make_bundle(["sleep", "1000"])
    older_id = new_id()
    runtime.ok("create", "-b", str(older.path), older_id, stdin=subprocess.DEVNULL)
    try:
        fill(filler)
        bundle = make_bundle(["sleep", "1000"])
        cid = new_id()
        result = runtime("create", "-b", str(bundle.path), cid, stdin=subprocess.DEVNULL)
        assert result.returncode == 1
        assert_clean_exit(result)
        assert "No space left on device" in result.stderr
        assert not (runtime.root / cid).exists() and cgroup_dirs(bundle.cgroup) == []
        assert runtime.state(older_id)["status"] == "created"
        read_state_file(runtime, older_id)
        runtime.ok("delete", "--force", older_id)
        assert_no_trace(runtime, older, older_id)
        assert_no_trace(runtime, bundle, cid)
        count("full-disk scenarios", 1)
    finally:
        runtime("delete", "--force", older_id)


def test_start_on_full_tmpfs_tells_the_truth(make_bundle: BundleFactory, full_tmpfs: tuple[Path, Path]) -> None:
    from tests.conftest import Runtime as Driver
    from tests.conftest import runtime_binary

    mountpoint, filler = full_tmpfs
    runtime = Driver(runtime_binary(), mountpoint / "state")
    bundle = make_bundle(["sleep", "1000"])
    cid = new_id()
    runtime.ok("create", "-b", str(bundle.path), cid, stdin=subprocess.DEVNULL)
    try:
        fill(filler)
        result = runtime("start", cid)
        assert_clean_exit(result)
        filler.unlink()
        state = runtime.state(cid)
        assert state["status"] == "running", (result.stderr, state)
    finally:
        if filler.exists():
            filler.unlink()
        runtime("delete", "--force", cid)
        assert_no_trace(runtime, bundle, cid)
