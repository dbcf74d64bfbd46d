"""features.md and features-linux.md: the `features` JSON, and that what it lists is really accepted."""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from conformance.harness import Ctx, Fail, Skip, check, expect, fail

SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
TOP_LEVEL = {
    "ociVersionMin",
    "ociVersionMax",
    "hooks",
    "mountOptions",
    "linux",
    "annotations",
    "potentiallyUnsafeConfigAnnotations",
}
LINUX = {
    "namespaces",
    "capabilities",
    "cgroup",
    "seccomp",
    "apparmor",
    "selinux",
    "intelRdt",
    "mountExtensions",
    "memoryPolicy",
    "netDevices",
}
CAP_NAMES = """CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE
NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT
SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP
MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE""".split()
# capability numbers (linux/capability.h order); only those in our own bounding set can be granted
CAP_NUMBERS = {f"CAP_{name}": number for number, name in enumerate(CAP_NAMES)}
BIG_ENDIAN = {
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SHEB",
}
OTHER_ENDIAN = {"little": BIG_ENDIAN, "big": set()}  # big-endian hosts: not sorted out here, every arch is tried
NS_PROC = {
    "pid": "pid",
    "network": "net",
    "ipc": "ipc",
    "uts": "uts",
    "mount": "mnt",
    "cgroup": "cgroup",
    "user": "user",
    "time": "time",
}


def features(ctx: Ctx) -> dict[str, Any]:
    return ctx.suite.features()


def listed(ctx: Ctx, *path: str) -> list[str]:
    node: Any = features(ctx)
    for key in path:
        node = (node or {}).get(key)
    if not node:
        raise Skip(f"`features` lists no {'.'.join(path)}")
    return list(node)


def semver_key(version: str) -> tuple[int, int, int, int]:
    match = SEMVER.match(version)
    if not match:
        fail(f"{version!r} is not SemVer")
    assert match is not None
    return int(match[1]), int(match[2]), int(match[3]), 0 if match[4] else 1


@check("features.structure")
def structure(ctx: Ctx) -> None:
    """ociVersionMin <= ociVersionMax, no properties outside the spec, annotations a string map."""
    f = features(ctx)
    expect(semver_key(f["ociVersionMin"]) <= semver_key(f["ociVersionMax"]), "ociVersionMax < ociVersionMin")
    extra = set(f) - TOP_LEVEL
    expect(not extra, f"undefined top-level properties: {sorted(extra)}")
    extra = set(f.get("linux") or {}) - LINUX
    expect(not extra, f"undefined linux properties: {sorted(extra)}")
    annotations = f.get("annotations") or {}
    expect(
        isinstance(annotations, dict) and all(isinstance(v, str) for v in annotations.values()),
        "annotations is not a string map",
    )


@check("features.oci-versions")
def oci_versions(ctx: Ctx) -> None:
    """A config whose ociVersion is ociVersionMin, or ociVersionMax, is accepted."""
    f = features(ctx)
    for key in ("ociVersionMin", "ociVersionMax"):
        c = ctx.container()
        c.config["ociVersion"] = f[key]
        c.run_probe()


@check("features.hooks")
def hooks(ctx: Ctx) -> None:
    """Every hook name listed is supported: a hook of each kind runs."""
    names = listed(ctx, "hooks")
    log = ctx.host_dir("log")
    script = ctx.dir / "hook.sh"
    script.write_text(f'#!/bin/sh\necho "$1" >> {log}/ran\n')
    script.chmod(0o755)
    c = ctx.container()
    (c.rootfs / "conformance-hook").write_text(script.read_text())
    (c.rootfs / "conformance-hook").chmod(0o755)
    c.config["mounts"].append({"destination": str(log), "type": "bind", "source": str(log), "options": ["rbind"]})
    c.config["hooks"] = {
        n: [{"path": "/conformance-hook" if n == "startContainer" else str(script), "args": ["h", n]}] for n in names
    }
    c.run_probe()
    c.delete()
    ran = (log / "ran").read_text().split() if (log / "ran").exists() else []
    missing = [n for n in names if n not in ran]
    expect(not missing, f"listed hooks that did not run: {missing}")


@check("features.mount-options")
def mount_options(ctx: Ctx) -> None:
    """Every listed mount option is accepted on a mount (idmap/ridmap given mappings)."""
    names = listed(ctx, "mountOptions")
    source = ctx.host_dir("src")
    rejected = []
    for name in names:
        c = ctx.container(["true"])
        mount: dict[str, Any] = {"destination": "/m", "type": "bind", "source": str(source), "options": ["rbind", name]}
        if name in ("idmap", "ridmap"):
            mount["uidMappings"] = mount["gidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
        elif name not in ("bind", "rbind"):
            mount = {"destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": [name]}
        if name == "remount":  # remount changes an existing mount: make one first
            c.config["mounts"].append({"destination": "/m", "type": "tmpfs", "source": "tmpfs"})
        c.config["mounts"].append(mount)
        if c.create(check=False).returncode != 0:
            rejected.append(name)
        c.cleanup()
    expect(not rejected, f"listed but rejected: {rejected}")


@check("features.namespaces")
def namespaces(ctx: Ctx) -> None:
    """Every listed namespace type is accepted as linux.namespaces[].type."""
    names = listed(ctx, "linux", "namespaces")
    rejected = []
    for name in names:
        c = ctx.container(["true"])
        spaces = c.config["linux"]["namespaces"]
        if name not in [n["type"] for n in spaces]:
            spaces.append({"type": name})
        if name == "user":
            c.config["linux"]["uidMappings"] = c.config["linux"]["gidMappings"] = [
                {"containerID": 0, "hostID": 200000, "size": 65536}
            ]
            c.config["mounts"] = [m for m in c.config["mounts"] if m["destination"] != "/sys"]
        if c.create(check=False).returncode != 0:
            rejected.append(f"{name}: {c.output_text().strip()[-120:]}")
        c.cleanup()
    expect(not rejected, f"listed but rejected: {rejected}")


@check("features.capabilities")
def capabilities(ctx: Ctx) -> None:
    """Every listed capability name is accepted in process.capabilities."""
    bounding = int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("CapBnd:")), 16)
    names = [n for n in listed(ctx, "linux", "capabilities") if n in CAP_NUMBERS and bounding >> CAP_NUMBERS[n] & 1]
    c = ctx.container()
    c.config["process"]["capabilities"] = {k: list(names) for k in ("bounding", "effective", "permitted")}
    c.run_probe()


def seccomp_accepts(ctx: Ctx, profile: dict[str, Any]) -> str | None:
    c = ctx.container(["true"])
    c.config["linux"]["seccomp"] = profile
    result = c.create(check=False)
    text = c.output_text().strip()[-150:]
    c.cleanup()
    return None if result.returncode == 0 else text or f"exit {result.returncode}"


ALLOW = "SCMP_ACT_ALLOW"


@check("features.seccomp-actions")
def seccomp_actions(ctx: Ctx) -> None:
    """Listed seccomp actions are accepted in syscalls[].action (NOTIFY is covered by seccomp.listener)."""
    problems = []
    for action in listed(ctx, "linux", "seccomp", "actions"):
        if action in (ALLOW, "SCMP_ACT_NOTIFY"):
            continue  # ALLOW is the default action here; NOTIFY needs a listener
        rule: dict[str, Any] = {"names": ["acct"], "action": action}
        if (why := seccomp_accepts(ctx, {"defaultAction": ALLOW, "syscalls": [rule]})) is not None:
            problems.append(f"{action}: {why}")
    expect(not problems, "; ".join(problems))


@check("features.seccomp-operators")
def seccomp_operators(ctx: Ctx) -> None:
    """Listed seccomp operators are accepted in syscalls[].args[].op."""
    problems = []
    for op in listed(ctx, "linux", "seccomp", "operators"):
        arg = {"index": 0, "value": 1, "valueTwo": 1, "op": op}
        rule = {"names": ["acct"], "action": "SCMP_ACT_ERRNO", "args": [arg]}
        if (why := seccomp_accepts(ctx, {"defaultAction": ALLOW, "syscalls": [rule]})) is not None:
            problems.append(f"{op}: {why}")
    expect(not problems, "; ".join(problems))


@check("features.seccomp-archs")
def seccomp_archs(ctx: Ctx) -> None:
    """Listed seccomp architectures (of this host's byte order) are accepted in architectures."""
    problems = []
    for arch in listed(ctx, "linux", "seccomp", "archs"):
        if arch in OTHER_ENDIAN[sys.byteorder]:
            continue  # libseccomp cannot put an arch of the other byte order into a filter for this host
        if (why := seccomp_accepts(ctx, {"defaultAction": ALLOW, "architectures": [arch]})) is not None:
            problems.append(f"{arch}: {why}")
    expect(not problems, "; ".join(problems))


@check("features.seccomp-supported-flags")
def seccomp_supported_flags(ctx: Ctx) -> None:
    """Listed supported seccomp flags are accepted and work (the container runs)."""
    problems = []
    for flag in listed(ctx, "linux", "seccomp", "supportedFlags"):
        if (why := seccomp_accepts(ctx, {"defaultAction": ALLOW, "flags": [flag]})) is not None:
            problems.append(f"{flag}: {why}")
    expect(not problems, "; ".join(problems))


@check("features.seccomp-known-flags")
def seccomp_known_flags(ctx: Ctx) -> None:
    """Listed known seccomp flags are recognized: accepted, or refused naming the flag as unsupported."""
    problems = []
    for flag in listed(ctx, "linux", "seccomp", "knownFlags"):
        why = seccomp_accepts(ctx, {"defaultAction": "SCMP_ACT_ALLOW", "flags": [flag]})
        if why is not None and flag not in why:
            problems.append(f"{flag}: {why}")
    expect(not problems, "; ".join(problems))


@check("features.memory-policy")
def memory_policy(ctx: Ctx) -> None:
    """Listed memoryPolicy modes and flags are recognized in linux.memoryPolicy."""
    problems = []
    for mode in listed(ctx, "linux", "memoryPolicy", "modes"):
        policy: dict[str, Any] = {"mode": mode}
        if mode not in ("MPOL_DEFAULT", "MPOL_LOCAL"):
            policy["nodes"] = "0"
        c = ctx.container(["true"])
        c.config["linux"]["memoryPolicy"] = policy
        if c.create(check=False).returncode != 0 and mode not in c.output_text():
            problems.append(f"mode {mode}: {c.output_text().strip()[-120:]}")
        c.cleanup()
    for flag in (features(ctx).get("linux") or {}).get("memoryPolicy", {}).get("flags") or []:
        c = ctx.container(["true"])
        c.config["linux"]["memoryPolicy"] = {"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": [flag]}
        if c.create(check=False).returncode != 0 and flag not in c.output_text():
            problems.append(f"flag {flag}: {c.output_text().strip()[-120:]}")
        c.cleanup()
    expect(not problems, "; ".join(problems))


@check("features.idmap-consistent")
def idmap_consistent(ctx: Ctx) -> None:
    """If the runtime applies uid/gidMappings on mounts, mountExtensions.idmap.enabled says true."""
    enabled = ((features(ctx).get("linux") or {}).get("mountExtensions") or {}).get("idmap", {}).get("enabled")
    source = ctx.host_dir("src")
    (source / "file").write_text("x")
    os.chown(source / "file", 1000, 1000)
    c = ctx.container()
    c.config["process"]["args"] += ["stat -c %u /m/file"]
    c.config["mounts"].append(
        {
            "destination": "/m",
            "type": "bind",
            "source": str(source),
            "options": ["rbind", "idmap"],
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
        }
    )
    try:
        works = c.run_probe().cmd(0)[1].strip() == "0"
    except Fail:
        works = False
    if works and enabled is not True:
        fail(f"idmapped mounts work but mountExtensions.idmap.enabled is {enabled!r}")
    if not works and enabled is not True:
        raise Skip("the runtime neither supports nor advertises idmapped mounts")
