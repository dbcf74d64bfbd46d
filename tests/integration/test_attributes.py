"""Process attributes observed from inside real containers, and their bad inputs refused cleanly.

rlimits (/proc/self/limits), oomScoreAdj (/proc/self/oom_score_adj), personality (`uname -m`,
/proc/self/personality), ioPriority (busybox `ionice`), scheduler (/proc/self/stat fields 19, 40, 41),
memoryPolicy (get_mempolicy(2) from the host's python, bind-mounted read-only into the container),
execCPUAffinity (not applicable to init: unchanged), intelRdt (refused without resctrl).
"""

from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BundleFactory, Runtime, new_id

pytestmark = pytest.mark.root

RT_GROUP_SCHED = Path("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists()


def run_in_container(
    runtime: Runtime,
    make_bundle: BundleFactory,
    args: list[str],
    process: dict[str, Any] | None = None,
    linux: dict[str, Any] | None = None,
    mounts: list[dict[str, Any]] | None = None,
    env: list[str] | None = None,
) -> str:
    bundle = make_bundle(args)
    bundle.config["process"].update(process or {})
    bundle.config["process"]["env"] += env or []
    bundle.config["linux"].update(linux or {})
    bundle.config["mounts"] += mounts or []
    bundle.write()
    return runtime.ok("run", "-b", str(bundle.path), new_id(), stdin=open(os.devnull)).stdout


def failed_run(
    runtime: Runtime,
    make_bundle: BundleFactory,
    process: dict[str, Any] | None = None,
    linux: dict[str, Any] | None = None,
) -> str:
    """`run` that must fail with one stderr line; the state directory must be gone afterwards."""
    bundle = make_bundle(["true"])
    bundle.config["process"].update(process or {})
    bundle.config["linux"].update(linux or {})
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), new_id(), stdin=open(os.devnull))
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert runtime.container_dirs() == []
    return lines[0]


# --- the host's python as a probe (busybox has no get_mempolicy) ----------------------------------

HOST_LIBS = "/usr/lib/x86_64-linux-gnu"
PROBE_MOUNT = {"destination": "/home", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]}


def python_probe(code: str) -> tuple[list[str], list[str]]:
    """(args, env) running `code` with the host's python3 from /usr mounted at /home."""
    if not Path(HOST_LIBS, "ld-linux-x86-64.so.2").exists():
        pytest.fail("the python probe needs an x86_64 Debian host")
    loader = "/home/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    args = [loader, "--library-path", "/home/lib/x86_64-linux-gnu", "/home/bin/python3", "-S", "-c", code]
    return args, ["PYTHONHOME=/home"]


GET_MEMPOLICY = (
    "import ctypes, platform\n"
    "nr = {'x86_64': 239, 'aarch64': 236}[platform.machine()]\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "mode = ctypes.c_int()\n"
    "mask = (ctypes.c_ulong * 16)()\n"
    "assert libc.syscall(nr, ctypes.byref(mode), mask, ctypes.c_ulong(1025), None, 0) == 0\n"
    "print(mode.value, mask[0])\n"
)


# --- rlimits ---------------------------------------------------------------------------------------


def limits_of(text: str) -> dict[str, tuple[str, str]]:
    result = {}
    for line in text.splitlines()[1:]:
        name = line[:26].strip()
        soft, hard = line[26:].split()[:2]
        result[name] = (soft, hard)
    return result


def test_rlimits_seen_in_proc_self_limits(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    rlimits = [
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096},
        {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400},
        {"type": "RLIMIT_MSGQUEUE", "soft": 1024, "hard": 2048},
    ]
    out = run_in_container(runtime, make_bundle, ["cat", "/proc/self/limits"], process={"rlimits": rlimits})
    limits = limits_of(out)
    assert limits["Max open files"] == ("512", "1000")
    assert limits["Max core file size"] == ("0", "4096")
    assert limits["Max processes"] == ("300", "400")
    assert limits["Max msgqueue size"] == ("1024", "2048")


def test_rlimit_infinity_within_the_runtimes_limits(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    assert hard == resource.RLIM_INFINITY, "the runtime is expected to have an unlimited RLIMIT_CPU"
    rlimits = [{"type": "RLIMIT_CPU", "soft": 100, "hard": 2**64 - 1}]
    out = run_in_container(runtime, make_bundle, ["cat", "/proc/self/limits"], process={"rlimits": rlimits})
    assert limits_of(out)["Max cpu time"] == ("100", "unlimited")


def test_raising_a_hard_limit_names_the_limit(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    rlimits = [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": hard + 1}]
    line = failed_run(runtime, make_bundle, process={"rlimits": rlimits})
    if _has_cap_sys_resource():
        pytest.fail("this test expects a runtime without CAP_SYS_RESOURCE (as on the CI machine)")
    assert line.endswith(
        f"process.rlimits[0] RLIMIT_NOFILE: cannot raise hard limit above {hard}: Operation not permitted"
    ), line


def _has_cap_sys_resource() -> bool:
    status = Path("/proc/self/status").read_text()
    eff = next(line for line in status.splitlines() if line.startswith("CapEff:"))
    return bool(int(eff.split()[1], 16) >> 24 & 1)


@pytest.mark.parametrize(
    ("rlimits", "path"),
    [
        ([{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}], "process.rlimits[0].type"),
        ([{"type": "RLIMIT_CORE", "soft": 2, "hard": 1}], "process.rlimits[0].soft"),
        ([{"type": "RLIMIT_CORE", "soft": 1, "hard": 1}, {"type": "RLIMIT_CORE", "soft": 1, "hard": 1}],
         "process.rlimits[1].type"),
    ],
)  # fmt: skip
def test_bad_rlimits(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None, rlimits: list[dict[str, Any]], path: str
) -> None:
    assert f"{path}: " in failed_run(runtime, make_bundle, process={"rlimits": rlimits})


# --- oomScoreAdj -----------------------------------------------------------------------------------


def test_oom_score_adj(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    out = run_in_container(runtime, make_bundle, ["cat", "/proc/self/oom_score_adj"], process={"oomScoreAdj": 321})
    assert out.strip() == "321"
    assert Path("/proc/self/oom_score_adj").read_text().strip() == "0"


def test_oom_score_adj_lowering_needs_cap_sys_resource(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    if _has_cap_sys_resource():
        pytest.fail("this test expects a runtime without CAP_SYS_RESOURCE")
    line = failed_run(runtime, make_bundle, process={"oomScoreAdj": -500})
    assert "process.oomScoreAdj: cannot set -500" in line and "CAP_SYS_RESOURCE" in line, line


# --- personality -----------------------------------------------------------------------------------


def test_personality_linux32(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    personality = {"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]}
    out = run_in_container(
        runtime, make_bundle, ["sh", "-c", "uname -m; cat /proc/self/personality"], linux={"personality": personality}
    )
    machine, persona = out.split()
    assert machine == {"x86_64": "i686", "aarch64": "armv8l"}.get(os.uname().machine, machine)
    assert int(persona, 16) == 0x0008 | 0x0040000


def test_personality_linux_is_the_default(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    linux = {"personality": {"domain": "LINUX"}}
    out = run_in_container(runtime, make_bundle, ["cat", "/proc/self/personality"], linux=linux)
    assert int(out, 16) == 0


def test_bad_personality(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    line = failed_run(runtime, make_bundle, linux={"personality": {"domain": "LINUX", "flags": ["NOPE"]}})
    assert "linux.personality.flags[0]: unknown personality flag 'NOPE'" in line
    line = failed_run(runtime, make_bundle, linux={"personality": {"domain": "WIN32"}})
    assert "linux.personality.domain" in line


# --- ioPriority ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("klass", "priority", "expected"),
    [("IOPRIO_CLASS_RT", 3, "realtime: prio 3"), ("IOPRIO_CLASS_BE", 7, "best-effort: prio 7"),
     ("IOPRIO_CLASS_IDLE", 0, "idle")],
)  # fmt: skip
def test_io_priority(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None, klass: str, priority: int, expected: str
) -> None:
    io = {"class": klass, "priority": priority}
    out = run_in_container(runtime, make_bundle, ["sh", "-c", "ionice -p $$"], process={"ioPriority": io})
    assert out.strip() == expected


def test_bad_io_priority(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    line = failed_run(runtime, make_bundle, process={"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 8}})
    assert "process.ioPriority.priority" in line
    line = failed_run(runtime, make_bundle, process={"ioPriority": {"class": "IOPRIO_CLASS_NONE", "priority": 0}})
    assert "process.ioPriority.class" in line


# --- scheduler -------------------------------------------------------------------------------------


def sched_fields(stat: str) -> tuple[int, int, int]:
    """(nice, rt_priority, policy) from /proc/<pid>/stat (fields 19, 40, 41; comm may hold spaces)."""
    rest = stat.rsplit(")", 1)[1].split()
    return int(rest[16]), int(rest[37]), int(rest[38])


@pytest.mark.parametrize(
    ("scheduler", "expected"),
    [({"policy": "SCHED_BATCH", "nice": 7}, (7, 0, 3)), ({"policy": "SCHED_IDLE"}, (0, 0, 5)),
     ({"policy": "SCHED_OTHER", "nice": 3, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}, (3, 0, 0))],
)  # fmt: skip
def test_scheduler(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None, scheduler: dict[str, Any], expected: tuple[int, ...]
) -> None:
    out = run_in_container(runtime, make_bundle, ["cat", "/proc/self/stat"], process={"scheduler": scheduler})
    assert sched_fields(out) == expected


def test_scheduler_deadline(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    # A SCHED_DEADLINE task cannot fork: cat is exec'd directly as the container's init.
    scheduler = {"policy": "SCHED_DEADLINE", "runtime": 10_000_000, "deadline": 30_000_000, "period": 30_000_000}
    out = run_in_container(
        runtime, make_bundle, ["cat", "/proc/self/stat", "/proc/self/sched"], process={"scheduler": scheduler}
    )
    stat, _, sched = out.partition("\n")
    assert sched_fields(stat)[2] == 6
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in sched.splitlines())}
    assert fields["policy"] == "6" and fields["prio"] == "-1"  # a deadline task runs above every RT priority


def test_scheduler_fifo(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    """With RT group scheduling (this host's cgroup v1), the container's cgroup has no real-time runtime
    unless linux.resources.cpu.realtimeRuntime gives it some: the error must say so."""
    scheduler = {"policy": "SCHED_FIFO", "priority": 10}
    if RT_GROUP_SCHED:
        line = failed_run(runtime, make_bundle, process={"scheduler": scheduler})
        assert "process.scheduler: sched_setattr(SCHED_FIFO): Operation not permitted" in line
        assert "real-time runtime in the container's cgroup" in line
    else:
        out = run_in_container(runtime, make_bundle, ["cat", "/proc/self/stat"], process={"scheduler": scheduler})
        assert sched_fields(out) == (0, 10, 1)


@pytest.mark.parametrize(
    ("scheduler", "path"),
    [({"policy": "SCHED_ISO"}, "process.scheduler.policy"),
     ({"policy": "SCHED_RR", "priority": 0}, "process.scheduler.priority"),
     ({"policy": "SCHED_OTHER", "priority": 5}, "process.scheduler.priority"),
     ({"policy": "SCHED_BATCH", "runtime": 5}, "process.scheduler.runtime"),
     ({"policy": "SCHED_DEADLINE", "runtime": 100, "deadline": 10}, "process.scheduler.runtime"),
     ({"policy": "SCHED_OTHER", "nice": 30}, "process.scheduler.nice")],
)  # fmt: skip
def test_bad_scheduler(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None, scheduler: dict[str, Any], path: str
) -> None:
    assert f"{path}: " in failed_run(runtime, make_bundle, process={"scheduler": scheduler})


# --- memoryPolicy ----------------------------------------------------------------------------------

MPOL = {"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3, "MPOL_LOCAL": 4,
        "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6}  # fmt: skip


def read_mempolicy(runtime: Runtime, make_bundle: BundleFactory, policy: dict[str, Any]) -> tuple[int, int]:
    args, env = python_probe(GET_MEMPOLICY)
    out = run_in_container(runtime, make_bundle, args, linux={"memoryPolicy": policy}, mounts=[PROBE_MOUNT], env=env)
    mode, mask = out.split()
    return int(mode), int(mask)


def test_memory_policy_bind_static(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    policy = {"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}
    assert read_mempolicy(runtime, make_bundle, policy) == (MPOL["MPOL_BIND"] | 1 << 15, 1)


def test_without_memory_policy_the_default_stays(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    args, env = python_probe(GET_MEMPOLICY)
    out = run_in_container(runtime, make_bundle, args, mounts=[PROBE_MOUNT], env=env)
    assert out.split() == ["0", "0"]


def test_memory_policy_on_a_missing_node(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    line = failed_run(runtime, make_bundle, linux={"memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0,63"}})
    assert "linux.memoryPolicy.nodes: NUMA node 63 does not exist" in line


def test_memory_policy_flag_the_kernel_refuses_with_the_mode(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    # MPOL_F_NUMA_BALANCING goes with MPOL_BIND (and MPOL_PREFERRED_MANY) only: set_mempolicy says EINVAL.
    # The one line must name the flag, not only the mode (the conformance check of features' flags).
    policy = {"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]}
    line = failed_run(runtime, make_bundle, linux={"memoryPolicy": policy})
    assert "linux.memoryPolicy MPOL_INTERLEAVE|MPOL_F_NUMA_BALANCING: set_mempolicy: Invalid argument" in line, line


@pytest.mark.parametrize(
    ("policy", "path"),
    [({"mode": "MPOL_BIND"}, "linux.memoryPolicy.nodes"),
     ({"mode": "MPOL_LOCAL", "nodes": "0"}, "linux.memoryPolicy.nodes"),
     ({"mode": "MPOL_BIND", "nodes": "3-1"}, "linux.memoryPolicy.nodes"),
     ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]},
      "linux.memoryPolicy.flags"),
     ({"mode": "MPOL_SOMETIMES"}, "linux.memoryPolicy.mode")],
)  # fmt: skip
def test_bad_memory_policy(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None, policy: dict[str, Any], path: str
) -> None:
    assert f"{path}: " in failed_run(runtime, make_bundle, linux={"memoryPolicy": policy})


# --- execCPUAffinity, intelRdt ---------------------------------------------------------------------


def test_exec_cpu_affinity_does_not_apply_to_init(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    """config.md: "This setting is not applicable to the container's init process"."""
    cpus = os.cpu_count() or 1
    affinity = {"initial": "0", "final": str(cpus - 1)}
    out = run_in_container(runtime, make_bundle, ["grep", "Cpus_allowed_list", "/proc/self/status"],
                           process={"execCPUAffinity": affinity})  # fmt: skip
    expected = Path("/proc/self/status").read_text().split("Cpus_allowed_list:")[1].split()[0]
    assert out.split()[1] == expected


def test_bad_exec_cpu_affinity(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    line = failed_run(runtime, make_bundle, process={"execCPUAffinity": {"initial": "0-"}})
    assert "process.execCPUAffinity.initial" in line


def test_intel_rdt_refused_without_resctrl(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    line = failed_run(runtime, make_bundle, linux={"intelRdt": {"closID": "guaranteed"}})
    if Path("/sys/fs/resctrl/schemata").exists():
        assert "linux.intelRdt: Intel RDT is not supported by this runtime yet" in line
    else:
        assert "linux.intelRdt: no resctrl filesystem is mounted at /sys/fs/resctrl" in line
