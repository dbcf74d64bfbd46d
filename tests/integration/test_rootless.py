"""Rootless: ociruntime run by an unprivileged user, observed from inside its containers."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import runtime_binary

pytestmark = pytest.mark.root

USER = "ocirootless"


@dataclass
class RootlessUser:
    name: str
    uid: int
    gid: int
    home: Path
    subuid: int  # first id of the user's range in /etc/subuid (and /etc/subgid)

    def run(self, *args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the runtime as this user, with an environment like a login's (XDG_RUNTIME_DIR set)."""
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "XDG_RUNTIME_DIR": str(self.home / "xdg")}
        return subprocess.run(
            ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", runtime_binary(), *args],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip


@pytest.fixture(scope="module")
def user() -> Iterator[RootlessUser]:
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", USER], check=True)
        entry = pwd.getpwnam(USER)
    starts = []
    for path in ("/etc/subuid", "/etc/subgid"):
        lines = Path(path).read_text().splitlines() if Path(path).exists() else []
        mine = [line for line in lines if line.startswith(f"{USER}:")]
        if not mine:  # useradd adds a range on most systems; this is for those where it does not
            mine = [f"{USER}:300000:65536"]
            with open(path, "a") as f:
                f.write(mine[0] + "\n")
        starts.append(int(mine[0].split(":")[1]))
    assert starts[0] == starts[1], "the test expects the same subordinate uid and gid range"
    home = Path(entry.pw_dir)
    (home / "xdg").mkdir(mode=0o700, exist_ok=True)
    os.chown(home / "xdg", entry.pw_uid, entry.pw_gid)
    rootless = RootlessUser(USER, entry.pw_uid, entry.pw_gid, home, starts[0])
    reachable = rootless.run("--version", cwd=home)
    if reachable.returncode != 0:
        # Seen with a checkout below a 0700 directory (mktemp -d): one clear failure, not six puzzles.
        pytest.fail(f"{USER} (uid {entry.pw_uid}) cannot run {runtime_binary()}: the checkout must be "
                    f"readable by other users: {reachable.stderr.strip()}")
    yield rootless
    shutil.rmtree(home / "xdg", ignore_errors=True)


@pytest.fixture
def bundle(user: RootlessUser, rootfs_template: Path) -> Iterator[Path]:
    """A bundle owned by the user in their home (pytest's tmp dirs are root-only), with config.json
    from `ociruntime spec --rootless` run as them."""
    directory = user.home / "bundle"
    shutil.rmtree(directory, ignore_errors=True)
    shutil.copytree(rootfs_template, directory / "rootfs", symlinks=True)
    subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", str(directory)], check=True)
    made = user.run("spec", "--rootless", cwd=directory)
    assert made.returncode == 0, made.stderr
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def configure(bundle: Path, args: list[str], **linux: object) -> None:
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    config["root"]["readonly"] = False
    config["process"]["args"] = args
    config["linux"].update(linux)
    (bundle / "config.json").write_text(json.dumps(config))


def test_spec_rootless_maps_the_callers_ids(user: RootlessUser, bundle: Path) -> None:
    config = json.loads((bundle / "config.json").read_text())
    assert config["linux"]["uidMappings"] == [{"containerID": 0, "hostID": user.uid, "size": 1}]
    assert config["linux"]["gidMappings"] == [{"containerID": 0, "hostID": user.gid, "size": 1}]
    assert {"type": "user"} in config["linux"]["namespaces"]


def test_run_as_unprivileged_user(user: RootlessUser, bundle: Path) -> None:
    configure(bundle, ["sh", "-c", "id -u; cat /proc/self/uid_map; touch /tmp/x && stat -c %u /tmp/x"])
    result = user.run("run", "r-single", cwd=bundle)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    assert lines[0] == "0"
    assert lines[1].split() == ["0", str(user.uid), "1"]
    assert lines[2] == "0"
    # Seen from the host, the file the container's root made belongs to the user.
    assert (bundle / "rootfs" / "tmp" / "x").stat().st_uid == user.uid
    # State lives under the user's XDG_RUNTIME_DIR and is gone after the foreground run.
    assert list((user.home / "xdg" / "ociruntime").iterdir()) == []


def test_multi_range_mapping_uses_newuidmap(user: RootlessUser, bundle: Path) -> None:
    extra = {"containerID": 1, "hostID": user.subuid, "size": 65536}
    maps = [{"containerID": 0, "hostID": user.uid, "size": 1}, extra]
    gmaps = [{"containerID": 0, "hostID": user.gid, "size": 1}, extra]
    configure(bundle, ["sh", "-c", "cat /proc/self/uid_map; id -u"], uidMappings=maps, gidMappings=gmaps)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["user"] = {"uid": 1000, "gid": 1000}
    (bundle / "config.json").write_text(json.dumps(config))
    result = user.run("run", "r-multi", cwd=bundle)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[:2] == [["0", str(user.uid), "1"], ["1", str(user.subuid), "65536"]]
    assert rows[2] == ["1000"]


def test_mapping_the_user_may_not_use_is_refused(user: RootlessUser, bundle: Path) -> None:
    configure(bundle, ["true"], uidMappings=[{"containerID": 0, "hostID": 0, "size": 1}])
    result = user.run("run", "r-bad-map", cwd=bundle)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "newuidmap" in result.stderr
    assert list((user.home / "xdg" / "ociruntime").iterdir()) == []


def test_resource_limits_without_a_delegated_cgroup_are_refused(user: RootlessUser, bundle: Path) -> None:
    configure(bundle, ["true"], resources={"pids": {"limit": 10}})
    result = user.run("run", "r-limits", cwd=bundle)
    assert result.returncode == 1
    assert "linux.resources" in result.stderr and "pids" in result.stderr
    assert list((user.home / "xdg" / "ociruntime").iterdir()) == []


def test_user_cannot_see_or_drive_roots_containers(user: RootlessUser, bundle: Path) -> None:
    # Without --root the user's own state directory is used, never /run/ociruntime.
    result = user.run("list", "--format", "json", cwd=bundle)
    assert result.returncode == 0 and result.stdout.strip() == "null"
    denied = user.run("--root", "/run/ociruntime", "delete", "--force", "nosuch", cwd=bundle)
    assert denied.returncode in (0, 1)  # no such container, or refused: either way nothing was touched
