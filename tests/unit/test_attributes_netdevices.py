"""linux.netDevices planning (ociruntime.linux.netdevices.plan): pure, no pyroute2."""

from __future__ import annotations

import pytest

from ociruntime.errors import ConfigInvalid
from ociruntime.linux import netdevices


def test_plan_names() -> None:
    plan = netdevices.plan({"netDevices": {"eth0": {}, "veth1": {"name": "inside1"}}})
    assert plan == (netdevices.NetDevice("eth0", "eth0"), netdevices.NetDevice("veth1", "inside1"))
    assert netdevices.plan({}) == ()
    assert netdevices.plan({"netDevices": {"eth0": {"name": ""}}}) == (netdevices.NetDevice("eth0", "eth0"),)


@pytest.mark.parametrize("name", ["a" * 16, ".", "..", "a/b", "a:b", "a b"])
def test_names_the_kernel_refuses(name: str) -> None:
    with pytest.raises(ConfigInvalid) as info:
        netdevices.plan({"netDevices": {"eth0": {"name": name}}})
    assert info.value.path == 'linux.netDevices["eth0"].name'


def test_two_devices_with_one_name_inside() -> None:
    with pytest.raises(ConfigInvalid, match="is also the name of"):
        netdevices.plan({"netDevices": {"eth0": {"name": "x"}, "eth1": {"name": "x"}}})


def test_planning_does_not_import_pyroute2() -> None:
    import ast
    from pathlib import Path

    tree = ast.parse(Path(netdevices.__file__).read_text())
    top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not any("pyroute2" in ast.dump(n) for n in top_level)
