"""image/ never reaches linux/, process/ or cgroups/; the CLI starts without heavy imports."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_purity import import_closure, imported_at_startup

PACKAGE = Path(__file__).resolve().parents[2] / "ociruntime" / "image"
MODULES = sorted("ociruntime.image." + p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
FORBIDDEN = ("ociruntime.linux", "ociruntime.process", "ociruntime.cgroups", "ctypes", "subprocess")
PURE = ("ociruntime.image.convert", "ociruntime.image.users", "ociruntime.image.reference")


@pytest.mark.parametrize("name", MODULES)
def test_image_never_imports_runtime_internals(name: str) -> None:
    bad = {m: by for m, by in import_closure(name).items() if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)}
    assert bad == {}


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_touch_nothing(name: str) -> None:
    closure = import_closure(name)
    assert not {"tarfile", "http.client", "ociruntime.image.inroot", "ociruntime.image.apply"} & closure.keys()


def test_cli_start_up_is_light() -> None:
    names = imported_at_startup("import ociruntime.image.cli")
    heavy = {"http.client", "ssl", "tarfile", "zstandard", "jsonschema", "ociruntime.image.registry", "subprocess"}
    assert heavy & names == set()
