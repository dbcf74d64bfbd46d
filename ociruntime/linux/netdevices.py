"""linux.netDevices: host interfaces moved (and renamed) into the container's network namespace.

Runs in the parent, never in the container: `attach` once init's pid is known (its network namespace
exists). After that the runtime leaves the devices alone (runtime-spec: no lifecycle management inside
the namespace, no moving back before deletion): when the namespace goes, the kernel returns a physical
device to the host and destroys a virtual one.

Only a `create` that fails hands the devices back (`detach`), since a failed operation must leave the
host as it was. For that the namespace is pinned while `create` runs (a bind mount of
/proc/<pid>/ns/net on `pin_path` in the state directory) and unpinned (`release`) when it succeeds.
Moving a device flushes its addresses; its permanent global ones are restored on the other side.

pyroute2 costs 150-300 ms to import: it is imported only when a config has netDevices.
"""

from __future__ import annotations

import contextlib
import os
import socket

from ociruntime import abi, errors
from ociruntime.linux import libc
from ociruntime.values import Value

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

    from pyroute2 import IPRoute

    from ociruntime.spec.model import Spec

PIN_NAME = "netns"  # the pin's file name in the container's state directory
IFNAMSIZ = 16
IFA_F_PERMANENT = 0x80
RT_SCOPE_UNIVERSE = 0


class NetDevice(Value):
    __slots__ = ("host_name", "container_name")

    def __init__(self, host_name: str, container_name: str) -> None:
        self.host_name = host_name
        self.container_name = container_name


def plan(linux: Mapping[str, Any]) -> tuple[NetDevice, ...]:
    """linux.netDevices → (host name, name inside); ConfigInvalid on a name the kernel would refuse."""
    devices = []
    seen: dict[str, str] = {}
    for host_name, entry in (linux.get("netDevices") or {}).items():
        field = f'linux.netDevices["{host_name}"]'
        inside = (entry or {}).get("name") or host_name
        for name, where in ((host_name, field), (inside, f"{field}.name")):
            reason = invalid_name(name)
            if reason:
                raise errors.ConfigInvalid(where, reason)
        if inside in seen:
            raise errors.ConfigInvalid(f"{field}.name", f"{inside!r} is also the name of {seen[inside]!r} inside")
        seen[inside] = host_name
        devices.append(NetDevice(host_name, inside))
    return tuple(devices)


def invalid_name(name: str) -> str | None:
    """The kernel's dev_valid_name(), as a reason (None when valid)."""
    if not name or len(name.encode()) >= IFNAMSIZ:
        return f"{name!r} is not an interface name (1 to {IFNAMSIZ - 1} bytes)"
    if name in (".", "..") or any(c in name for c in "/:") or any(c.isspace() for c in name):
        return f"{name!r} is not an interface name (no '/', ':' or spaces; not '.' or '..')"
    return None


def check(spec: Spec) -> tuple[NetDevice, ...]:
    """In the parent, before anything is made: a network namespace of the container's own, devices present."""
    linux = spec.raw.get("linux") or {}
    devices = plan(linux)
    netns = spec.namespace("network")
    if netns is None:
        raise errors.ConfigInvalid("linux.netDevices", "needs the container to have its own network namespace")
    if netns.path is not None and _same_file(netns.path, "/proc/self/ns/net"):
        raise errors.ConfigInvalid("linux.netDevices", f"the network namespace at {netns.path} is the host's")
    for device in devices:
        try:
            socket.if_nametoindex(device.host_name)
        except OSError:
            raise errors.ConfigInvalid(
                f'linux.netDevices["{device.host_name}"]', "no such network interface on the host"
            ) from None
    return devices


def _same_file(a: str, b: str) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def attach(config: Mapping[str, Any], pid: int, pin_path: str) -> None:
    """Move every configured device into init's network namespace; on failure, hand back what moved."""
    devices = plan(config.get("linux") or {})
    if not devices:
        return
    pin(f"/proc/{pid}/ns/net", pin_path)
    try:
        with _ns_fd(pin_path) as container_ns, _ns_fd("/proc/self/ns/net") as host_ns:
            _check_names_free(devices, container_ns, host_ns)
            for device in devices:
                _move(device.host_name, device.container_name, host_ns, container_ns, host_ns, up=True)
    except BaseException:
        with contextlib.suppress(errors.RuntimeFailure):
            detach(config, pin_path)
        raise


def release(pin_path: str) -> None:
    """`create` succeeded: the devices stay with the container's namespace from now on."""
    unpin(pin_path)


def _check_names_free(devices: tuple[NetDevice, ...], container_ns: int, host_ns: int) -> None:
    """Before anything moves: a name already taken inside is an error (runtime-spec), not half a move."""
    with _netlink_in(container_ns, host_ns) as inside:
        for device in devices:
            if "%d" not in device.container_name and inside.link_lookup(ifname=device.container_name):
                raise errors.ConfigInvalid(
                    f'linux.netDevices["{device.host_name}"].name',
                    f"{device.container_name!r} already exists in the container's network namespace",
                )


def detach(config: Mapping[str, Any], pin_path: str) -> None:
    """Move the devices back to the host under their host names and remove the pin (idempotent)."""
    devices = plan(config.get("linux") or {})
    if not devices or not os.path.lexists(pin_path):
        return
    failures: list[str] = []
    try:
        with _ns_fd(pin_path) as container_ns, _ns_fd("/proc/self/ns/net") as host_ns:
            for device in devices:
                try:
                    _move(device.container_name, device.host_name, container_ns, host_ns, host_ns, up=False)
                except LookupError:
                    continue  # never moved in, or already back
                except (OSError, errors.RuntimeFailure) as e:
                    failures.append(f"{device.container_name}: {e}")
    finally:
        unpin(pin_path)
    if failures:
        raise errors.RuntimeFailure(f"linux.netDevices: cannot return to the host: {'; '.join(failures)}")


def pin(ns_path: str, pin_path: str) -> None:
    fd = os.open(pin_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    os.close(fd)
    try:
        libc.mount(ns_path, pin_path, None, abi.MS_BIND)
    except OSError:
        os.unlink(pin_path)
        raise


def unpin(pin_path: str) -> None:
    with contextlib.suppress(OSError):
        libc.umount2(pin_path, abi.MNT_DETACH)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(pin_path)


@contextlib.contextmanager
def _ns_fd(path: str) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def _netlink_in(ns_fd: int, home_fd: int) -> Iterator[IPRoute]:
    """A netlink socket opened inside `ns_fd` (a socket stays in the namespace it was made in)."""
    from pyroute2 import IPRoute

    libc.setns(ns_fd, abi.CLONE_NEWNET)
    try:
        ipr = IPRoute()
    finally:
        libc.setns(home_fd, abi.CLONE_NEWNET)
    try:
        yield ipr
    finally:
        ipr.close()


def _move(name: str, new_name: str, from_ns: int, to_ns: int, home_ns: int, *, up: bool) -> None:
    """Move `name` from one namespace to another as `new_name`, keeping its permanent global addresses.

    Down first (nothing on the old side uses it half-moved), rename and move in one request (no
    name clash on either side in between), then the addresses (and up, into the container) on the new
    side. A device handed back stays down, as it was while its owner reclaimed it. LookupError when
    `name` is not in `from_ns`.
    """
    from pyroute2.netlink.exceptions import NetlinkError

    with _netlink_in(to_ns, home_ns) as target:
        before = {link["index"] for link in target.get_links()}
    with _netlink_in(from_ns, home_ns) as source:
        found = source.link_lookup(ifname=name)
        if not found:
            raise LookupError(name)
        index = found[0]
        addresses = [
            (a.get_attr("IFA_ADDRESS"), a["prefixlen"])
            for a in source.get_addr(index=index)
            if (a.get_attr("IFA_FLAGS") or a["flags"]) & IFA_F_PERMANENT and a["scope"] == RT_SCOPE_UNIVERSE
        ]
        try:
            source.link("set", index=index, state="down")
            source.link("set", index=index, net_ns_fd=to_ns, ifname=new_name)
        except NetlinkError as e:
            raise OSError(e.code, f"cannot move {name} as {new_name}: {os.strerror(e.code)}") from None
    with _netlink_in(to_ns, home_ns) as target:
        # By what is new rather than by name: a "%d" template is numbered by the kernel on arrival.
        found = [link["index"] for link in target.get_links() if link["index"] not in before]
        if len(found) != 1:
            raise errors.RuntimeFailure(f"{new_name} did not arrive in the target network namespace")
        try:
            for address, prefixlen in addresses:
                target.addr("add", index=found[0], address=address, prefixlen=prefixlen)
            if up:
                target.link("set", index=found[0], state="up")
        except NetlinkError as e:
            raise OSError(e.code, f"cannot configure {new_name}: {os.strerror(e.code)}") from None
