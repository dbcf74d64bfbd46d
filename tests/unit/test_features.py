"""The features document: valid, and built only from tables that really apply what they list."""

from __future__ import annotations

from typing import Any

import pytest

from ociruntime import features as F
from ociruntime.spec import mounts
from ociruntime.spec.schema import validate_features


def test_document_is_valid() -> None:
    validate_features(F.features())


def test_mount_options_leave_out_ignored_ones() -> None:
    options = F.mount_options()
    assert set(mounts.FLAG_OPTIONS) | set(mounts.PROPAGATION_OPTIONS) <= set(options)
    assert not set(mounts.IGNORED_OPTIONS) & set(options) - set(mounts.FLAG_OPTIONS) - set(mounts.PROPAGATION_OPTIONS)
    assert options == sorted(options)


def test_seccomp_disabled_while_create_refuses_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    from ociruntime import errors
    from ociruntime.linux import seccomp

    def refuse(doc: Any) -> None:
        raise errors.NotSupported("linux.seccomp", "not yet")

    monkeypatch.setattr(seccomp, "build", refuse)
    assert F.seccomp() == {"enabled": False}
    monkeypatch.setattr(seccomp, "build", lambda doc: None)
    enabled = F.seccomp()
    assert enabled["enabled"] is True and "SCMP_ACT_ALLOW" in enabled["actions"]


def test_memory_policy_modes_follow_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(F, "_kernel_version", lambda: (5, 10))
    modes = F.memory_policy()["modes"]
    assert "MPOL_BIND" in modes and "MPOL_PREFERRED_MANY" not in modes and "MPOL_WEIGHTED_INTERLEAVE" not in modes
    monkeypatch.setattr(F, "_kernel_version", lambda: (6, 9))
    assert "MPOL_WEIGHTED_INTERLEAVE" in F.memory_policy()["modes"]


def test_unimplemented_features_are_false() -> None:
    linux = F.features()["linux"]
    assert linux["apparmor"] == linux["selinux"] == linux["intelRdt"] == {"enabled": False}
    assert linux["mountExtensions"] == {"idmap": {"enabled": F._kernel_version() >= (5, 12)}}
    assert linux["cgroup"]["systemd"] is False
