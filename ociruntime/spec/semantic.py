"""Rules about config.json that a JSON Schema cannot express (cross-field and value rules).

PURE: looks at the parsed document only (no /proc, no files), so every rule is unit-tested
without root. Run it after the schema check: it trusts the shapes the schema guarantees
(an array is an array) but not the presence of optional fields.

Each rule is one small function named `check_<what>` raising `ConfigInvalid(path, reason)`;
`check_config` runs them in `CHECKS` order and stops at the first failure, like runc's
`libcontainer/configs/validate`. Where a rule comes from runc rather than from the spec, the
docstring says so. Host-dependent rules (is SELinux on, does the kernel have time namespaces,
sysctl namespace ownership) belong to later stages.
"""

from __future__ import annotations

from ociruntime.errors import ConfigInvalid

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from typing import Any

    Config = Mapping[str, Any]
    Check = Callable[[Config], None]
else:
    # The very classes collections.abc exports, without importing `collections` (~1.5 ms per create).
    from _collections_abc import Mapping, Sequence

# Seccomp actions that carry an errno (config-linux.md: for the others the runtime MUST fail).
ERRNO_ACTIONS = frozenset({"SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"})
# A syscall has at most six arguments (seccomp_data.args[6]).
SECCOMP_MAX_ARG_INDEX = 5
# set_mempolicy(2): which modes need a node set and which refuse one.
MPOL_NEEDS_NODES = frozenset({"MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED_MANY"})
MPOL_NO_NODES = frozenset({"MPOL_DEFAULT", "MPOL_LOCAL"})
BIND_OPTIONS = frozenset({"bind", "rbind"})


# --- small helpers ------------------------------------------------------------------------------


def _linux(config: Config) -> Mapping[str, Any]:
    linux = config.get("linux")
    return linux if isinstance(linux, Mapping) else {}


def _namespaces(config: Config) -> list[Mapping[str, Any]]:
    return list(_linux(config).get("namespaces") or [])


def _namespace(config: Config, ns_type: str) -> Mapping[str, Any] | None:
    for ns in _namespaces(config):
        if ns.get("type") == ns_type:
            return ns
    return None


def _has_new_namespace(config: Config, ns_type: str) -> bool:
    """A namespace the runtime creates (listed without `path`)."""
    ns = _namespace(config, ns_type)
    return ns is not None and not ns.get("path")


def _enumerate(items: object) -> Iterator[tuple[int, Any]]:
    return enumerate(items) if isinstance(items, Sequence) and not isinstance(items, str) else iter(())


def _is_absolute(path: object) -> bool:
    return isinstance(path, str) and path.startswith("/")


# --- root and process ---------------------------------------------------------------------------


def check_root(config: Config) -> None:
    """config.md: `root` is REQUIRED on Linux, and `root.path` is REQUIRED in it."""
    root = config.get("root")
    if not isinstance(root, Mapping) or not root.get("path"):
        raise ConfigInvalid("root.path", "the root filesystem path is required")


def check_process(config: Config) -> None:
    """config.md: `process` is REQUIRED when `start` is called, so `create` insists on it."""
    if not isinstance(config.get("process"), Mapping):
        raise ConfigInvalid("process", "a process is required to create a container")
    check_process_fields(config["process"], prefix="process")


def check_process_fields(process: Mapping[str, Any], *, prefix: str = "") -> None:
    """Rules for a process object, shared by config.json and `exec --process` files."""
    where = f"{prefix}." if prefix else ""
    if not process.get("args"):
        # config.md: on POSIX platforms args needs at least one entry (the executable).
        raise ConfigInvalid(f"{where}args", "at least one argument (the executable) is required")
    if not _is_absolute(process.get("cwd")):
        raise ConfigInvalid(f"{where}cwd", f"must be an absolute path, got {process.get('cwd')!r}")
    _check_env(process.get("env"), f"{where}env")
    _check_rlimits(process.get("rlimits"), f"{where}rlimits")
    _check_scheduler(process.get("scheduler"), f"{where}scheduler")


def _check_env(env: object, path: str) -> None:
    """Entries are KEY=value; runc refuses a missing '=' or an empty name, execve refuses NUL."""
    for i, entry in _enumerate(env):
        name, sep, _ = str(entry).partition("=")
        if not sep or not name:
            raise ConfigInvalid(f"{path}[{i}]", f"{entry!r} is not of the form KEY=value")
        if "\0" in str(entry):
            raise ConfigInvalid(f"{path}[{i}]", "contains a NUL byte")


def _check_rlimits(rlimits: object, path: str) -> None:
    """config.md: duplicated rlimit types MUST be an error; setrlimit(2) refuses soft > hard."""
    seen: set[str] = set()
    for i, rlimit in _enumerate(rlimits):
        kind = rlimit.get("type")
        if kind in seen:
            raise ConfigInvalid(f"{path}[{i}].type", f"{kind} is given more than once")
        seen.add(kind)
        if rlimit.get("soft", 0) > rlimit.get("hard", 0):
            raise ConfigInvalid(f"{path}[{i}].soft", "the soft limit is larger than the hard limit")


def _check_scheduler(scheduler: object, path: str) -> None:
    """sched_setattr(2) rules, as runc's validator applies them."""
    if not isinstance(scheduler, Mapping):
        return
    policy = scheduler.get("policy")
    if scheduler.get("priority") and policy not in ("SCHED_FIFO", "SCHED_RR"):
        raise ConfigInvalid(f"{path}.priority", "only SCHED_FIFO and SCHED_RR take a priority")
    for field in ("runtime", "deadline", "period"):
        if scheduler.get(field) and policy != "SCHED_DEADLINE":
            raise ConfigInvalid(f"{path}.{field}", "only SCHED_DEADLINE takes runtime, deadline and period")


# --- namespaces ---------------------------------------------------------------------------------


def check_namespaces_unique(config: Config) -> None:
    """config-linux.md: duplicated namespace types MUST be an error (reported at the second)."""
    seen: set[str] = set()
    for i, ns in enumerate(_namespaces(config)):
        ns_type = ns.get("type")
        if ns_type in seen:
            raise ConfigInvalid(f"linux.namespaces[{i}].type", f"namespace {ns_type!r} is listed twice")
        seen.add(str(ns_type))


def check_namespace_paths(config: Config) -> None:
    """config-linux.md: a namespace `path` MUST be absolute (any of the 8 types can be joined)."""
    for i, ns in enumerate(_namespaces(config)):
        path = ns.get("path")
        if path is not None and not _is_absolute(path):
            raise ConfigInvalid(f"linux.namespaces[{i}].path", f"must be an absolute path, got {path!r}")


def check_user_namespace(config: Config, *, rootless: bool = False) -> None:
    """A new user namespace needs both id maps; maps need a user namespace (runc's rules)."""
    linux = _linux(config)
    uid_maps, gid_maps = linux.get("uidMappings"), linux.get("gidMappings")
    userns = _namespace(config, "user")
    if userns is None:
        if rootless:
            raise ConfigInvalid("linux.namespaces", "a rootless container requires a user namespace")
        if uid_maps or gid_maps:
            field = "uidMappings" if uid_maps else "gidMappings"
            raise ConfigInvalid(f"linux.{field}", "user namespace mappings specified but no user namespace")
        return
    if userns.get("path"):
        return  # joining: the namespace already has its maps
    if not uid_maps:
        raise ConfigInvalid("linux.uidMappings", "a new user namespace requires at least one uid mapping")
    if not gid_maps:
        raise ConfigInvalid("linux.gidMappings", "a new user namespace requires at least one gid mapping")


def check_id_mappings(config: Config) -> None:
    """A mapping of size 0 maps nothing; the kernel rejects it when the map is written."""
    linux = _linux(config)
    sources: list[tuple[str, object]] = [
        ("linux.uidMappings", linux.get("uidMappings")),
        ("linux.gidMappings", linux.get("gidMappings")),
    ]
    for i, mount in _enumerate(config.get("mounts")):
        sources.append((f"mounts[{i}].uidMappings", mount.get("uidMappings")))
        sources.append((f"mounts[{i}].gidMappings", mount.get("gidMappings")))
    for path, mappings in sources:
        for j, mapping in _enumerate(mappings):
            if mapping.get("size") == 0:
                raise ConfigInvalid(f"{path}[{j}].size", "an id mapping must map at least one id")


def check_time_offsets(config: Config) -> None:
    """timeOffsets only make sense for a time namespace the runtime creates (runc's rule)."""
    if _linux(config).get("timeOffsets") and not _has_new_namespace(config, "time"):
        raise ConfigInvalid("linux.timeOffsets", "time offsets specified but no new time namespace")


def check_uts(config: Config) -> None:
    """config.md: hostname/domainname can only be set in a new UTS namespace."""
    for field in ("hostname", "domainname"):
        if config.get(field) and not _has_new_namespace(config, "uts"):
            raise ConfigInvalid(field, f"unable to set {field} without a private UTS namespace")


def check_path_restrictions(config: Config) -> None:
    """maskedPaths/readonlyPaths are absolute (config-linux.md) and need a mount namespace (runc)."""
    linux = _linux(config)
    for field in ("maskedPaths", "readonlyPaths"):
        for i, path in _enumerate(linux.get(field)):
            if not _is_absolute(path):
                raise ConfigInvalid(f"linux.{field}[{i}]", f"must be an absolute path, got {path!r}")
        if linux.get(field) and _namespace(config, "mount") is None:
            raise ConfigInvalid(f"linux.{field}", "unable to restrict paths without a private mount namespace")


# --- mounts, devices, hooks ---------------------------------------------------------------------


def check_mounts(config: Config) -> None:
    """Bind mounts need a source; idmapped mounts need both maps and a bind (runc's rules).

    A relative destination is NOT an error: config.md (v1.1+) keeps it valid on Linux, deprecated
    and interpreted relative to "/"; see `config_warnings`.
    """
    for i, mount in _enumerate(config.get("mounts")):
        options = set(mount.get("options") or ())
        is_bind = mount.get("type") == "bind" or bool(options & BIND_OPTIONS)
        if is_bind and not mount.get("source"):
            raise ConfigInvalid(f"mounts[{i}].source", "a bind mount requires a source")
        has_uid, has_gid = bool(mount.get("uidMappings")), bool(mount.get("gidMappings"))
        if has_uid != has_gid:
            missing = "gidMappings" if has_uid else "uidMappings"
            raise ConfigInvalid(f"mounts[{i}].{missing}", "an idmapped mount needs both uidMappings and gidMappings")
        if has_uid and not is_bind:
            raise ConfigInvalid(f"mounts[{i}].options", "uidMappings/gidMappings are only supported on bind mounts")


def check_devices(config: Config) -> None:
    """config-linux.md: a device `path` is the full path inside the container."""
    for i, device in _enumerate(_linux(config).get("devices")):
        if not _is_absolute(device.get("path")):
            raise ConfigInvalid(f"linux.devices[{i}].path", f"must be an absolute path, got {device.get('path')!r}")


def check_hooks(config: Config) -> None:
    """config.md: a hook `path` MUST be absolute."""
    hooks = config.get("hooks")
    if not isinstance(hooks, Mapping):
        return
    for phase, entries in hooks.items():
        for i, hook in _enumerate(entries):
            if isinstance(hook, Mapping) and not _is_absolute(hook.get("path")):
                raise ConfigInvalid(f"hooks.{phase}[{i}].path", f"must be an absolute path, got {hook.get('path')!r}")


# --- cgroups and resources ----------------------------------------------------------------------


def check_cgroups_path(config: Config) -> None:
    """`..` must not climb above where the path starts (it would escape the cgroup hierarchy).

    The systemd form `slice:prefix:name` has no `/`; its parts must not be `.` or `..` either.
    """
    path = _linux(config).get("cgroupsPath")
    if not path:
        return
    if "/" not in path and path.count(":") == 2:
        if any(part in (".", "..") for part in path.split(":")):
            raise ConfigInvalid("linux.cgroupsPath", f"{path!r} is not a valid systemd slice:prefix:name")
        return
    depth = 0
    for part in path.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                raise ConfigInvalid("linux.cgroupsPath", f"{path!r} escapes the cgroup hierarchy")
        elif part not in ("", "."):
            depth += 1


def check_cpu(config: Config) -> None:
    """config-linux.md: `burst` MUST be no larger than a positive `quota`."""
    cpu = (_linux(config).get("resources") or {}).get("cpu") or {}
    quota, burst = cpu.get("quota"), cpu.get("burst")
    if quota is not None and burst is not None and quota > 0 and burst > quota:
        raise ConfigInvalid("linux.resources.cpu.burst", f"burst {burst} is larger than quota {quota}")


def check_intel_rdt(config: Config) -> None:
    """closID names a resctrl directory: no `/`, not `.` or `..` (runc's rule)."""
    rdt = _linux(config).get("intelRdt")
    if not isinstance(rdt, Mapping) or "closID" not in rdt:
        return
    clos = rdt["closID"]
    if clos in (".", "..") or "/" in clos:
        raise ConfigInvalid("linux.intelRdt.closID", f"{clos!r} is not a valid directory name")


def check_memory_policy(config: Config) -> None:
    """set_mempolicy(2) would refuse these with EINVAL; say it before any process exists."""
    policy = _linux(config).get("memoryPolicy")
    if not isinstance(policy, Mapping):
        return
    mode, nodes, flags = policy.get("mode"), policy.get("nodes"), set(policy.get("flags") or ())
    if mode in MPOL_NEEDS_NODES and not nodes:
        raise ConfigInvalid("linux.memoryPolicy.nodes", f"{mode} requires a node set")
    if mode in MPOL_NO_NODES and nodes:
        raise ConfigInvalid("linux.memoryPolicy.nodes", f"{mode} does not take a node set")
    if {"MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"} <= flags:
        raise ConfigInvalid("linux.memoryPolicy.flags", "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES are exclusive")


# --- seccomp ------------------------------------------------------------------------------------


def check_seccomp(config: Config) -> None:
    """config-linux.md rules on errno returns and the notify listener; argument index < 6."""
    seccomp = _linux(config).get("seccomp")
    if not isinstance(seccomp, Mapping):
        return
    where = "linux.seccomp"
    if "defaultErrnoRet" in seccomp and seccomp.get("defaultAction") not in ERRNO_ACTIONS:
        raise ConfigInvalid(f"{where}.defaultErrnoRet", f"{seccomp.get('defaultAction')} does not take an errno")
    if seccomp.get("listenerMetadata") and not seccomp.get("listenerPath"):
        raise ConfigInvalid(f"{where}.listenerMetadata", "listenerMetadata requires listenerPath")
    uses_notify = seccomp.get("defaultAction") == "SCMP_ACT_NOTIFY"
    for i, rule in _enumerate(seccomp.get("syscalls")):
        if "errnoRet" in rule and rule.get("action") not in ERRNO_ACTIONS:
            raise ConfigInvalid(f"{where}.syscalls[{i}].errnoRet", f"{rule.get('action')} does not take an errno")
        for j, arg in _enumerate(rule.get("args")):
            if arg.get("index", 0) > SECCOMP_MAX_ARG_INDEX:
                raise ConfigInvalid(
                    f"{where}.syscalls[{i}].args[{j}].index", f"{arg['index']} is not a syscall argument index (0-5)"
                )
        uses_notify = uses_notify or rule.get("action") == "SCMP_ACT_NOTIFY"
    if uses_notify and not seccomp.get("listenerPath"):
        raise ConfigInvalid(f"{where}.listenerPath", "SCMP_ACT_NOTIFY requires listenerPath")


# --- driver -------------------------------------------------------------------------------------


def config_checks(*, rootless: bool = False) -> tuple[Check, ...]:
    """Every rule, in the order they run (cheap, structural rules first)."""

    def check_user_namespace_of_caller(config: Config) -> None:
        check_user_namespace(config, rootless=rootless)

    return (
        check_root,
        check_process,
        check_namespaces_unique,
        check_namespace_paths,
        check_user_namespace_of_caller,
        check_id_mappings,
        check_time_offsets,
        check_uts,
        check_path_restrictions,
        check_mounts,
        check_devices,
        check_hooks,
        check_cgroups_path,
        check_cpu,
        check_intel_rdt,
        check_memory_policy,
        check_seccomp,
    )


def check_config(config: dict[str, Any], *, rootless: bool = False) -> None:
    """Run every rule in order; the first broken one raises ConfigInvalid(path, reason)."""
    for check in config_checks(rootless=rootless):
        check(config)


def check_process_file(process: dict[str, Any]) -> None:
    """Rules for an `exec --process` document (the schema has already accepted its shape)."""
    check_process_fields(process)


def config_warnings(config: Config) -> list[tuple[str, str]]:
    """Valid but deprecated things worth a log line: (path, message)."""
    warnings = []
    for i, mount in _enumerate(config.get("mounts")):
        destination = mount.get("destination")
        if isinstance(destination, str) and not _is_absolute(destination):
            warnings.append((f"mounts[{i}].destination", "relative destination is deprecated, taken relative to /"))
    return warnings
