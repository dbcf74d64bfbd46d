"""Pure modules stay pure (DESIGN.md convention 1), and the CLI starts without heavy imports."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "ociruntime"

PURE_MODULES = sorted(
    ["ociruntime.spec." + p.stem for p in (PACKAGE / "spec").glob("*.py") if p.stem != "__init__"]
    + ["ociruntime.spec", "ociruntime.state.status", "ociruntime.abi"]
    + ["ociruntime.signals", "ociruntime.jsonwriter", "ociruntime.values"]
)
FORBIDDEN = (
    "ociruntime.linux.libc",
    "ctypes",
    "ociruntime.process",
    "ociruntime.cgroups.manager",
    "subprocess",
    "pyroute2",
    "seccomp",
)
# status.py needs the ProcStat type; nothing else pure may reach into linux/ at all.
ALLOWED_LINUX = {"ociruntime.state.status": {"ociruntime.linux.procfs"}}


def module_file(name: str) -> Path | None:
    """Source file of an ociruntime module or package; None for anything outside the package."""
    if name != "ociruntime" and not name.startswith("ociruntime."):
        return None
    base = REPO.joinpath(*name.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def direct_imports(name: str) -> set[str]:
    """Every module `name` may import, wherever the statement is (top level, functions, TYPE_CHECKING)."""
    path = module_file(name)
    assert path is not None, name
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if module == "__future__":
                continue
            found.add(module)
            for alias in node.names:  # `from ociruntime import abi` imports the submodule ociruntime.abi
                candidate = f"{module}.{alias.name}"
                if module_file(candidate) is not None:
                    found.add(candidate)
    # Importing a.b.c runs a/__init__.py and a/b/__init__.py too.
    for module in list(found):
        parts = module.split(".")
        found.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return found


def import_closure(name: str) -> dict[str, str]:
    """{module: the ociruntime module that imports it} for everything reachable from `name`."""
    seen: dict[str, str] = {}
    todo = [name]
    while todo:
        current = todo.pop()
        for imported in direct_imports(current):
            if imported in seen or imported == name:
                continue
            seen[imported] = current
            if module_file(imported) is not None:
                todo.append(imported)
    return seen


def is_forbidden(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FORBIDDEN)


def test_pure_module_list() -> None:
    assert "ociruntime.spec.mounts" in PURE_MODULES
    assert "ociruntime.spec.schema" in PURE_MODULES
    assert {"ociruntime.spec.quickcheck", "ociruntime.spec.exec_process", "ociruntime.abi"} <= set(PURE_MODULES)


@pytest.mark.parametrize("name", PURE_MODULES)
def test_pure_module_imports_nothing_impure(name: str) -> None:
    closure = import_closure(name)
    bad = {m: via for m, via in closure.items() if is_forbidden(m)}
    assert bad == {}, f"{name} imports {bad} (module: imported by)"


@pytest.mark.parametrize("name", PURE_MODULES)
def test_pure_module_stays_out_of_linux(name: str) -> None:
    closure = import_closure(name)
    linux = {m for m in closure if m.startswith("ociruntime.linux.")}
    assert linux <= ALLOWED_LINUX.get(name, set()), f"{name} reaches {sorted(linux)}"


def test_walker_sees_relative_and_from_imports() -> None:
    assert "ociruntime.abi" in direct_imports("ociruntime.spec.mounts")  # from ociruntime import abi as F
    assert "jsonschema" in import_closure("ociruntime.spec.schema")  # imported inside a function
    assert {"ociruntime.spec.schema", "ociruntime.spec.semantic"} <= import_closure("ociruntime.spec.load").keys()
    assert import_closure("ociruntime.state.status")["ociruntime.linux.procfs"] == "ociruntime.state.status"


def test_walker_catches_an_impure_module() -> None:
    # The checker must be able to fail: lifecycle (not pure) reaches the cgroup manager.
    closure = import_closure("ociruntime.container.lifecycle")
    assert "ociruntime.cgroups.manager" in closure
    assert is_forbidden("ociruntime.cgroups.manager")
    assert is_forbidden("ociruntime.process.spawn")
    assert not is_forbidden("ociruntime.processing")


# --- CLI start-up --------------------------------------------------------------------------------


HEAVY = ("jsonschema", "pyroute2", "seccomp", "subprocess", "ctypes")


def imported_at_startup(code: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    python = REPO / ".venv" / "bin" / "python"
    result = subprocess.run(
        [str(python if python.exists() else sys.executable), "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                names.add(name)
    return names


def test_cli_import_is_light() -> None:
    names = imported_at_startup("import ociruntime.cli.main")
    assert "ociruntime.cli.main" in names
    heavy = sorted(n for n in names if any(n == h or n.startswith(h + ".") for h in HEAVY))
    assert heavy == []


def test_importtime_parser_detects_heavy_modules() -> None:
    names = imported_at_startup("import ctypes, json")
    assert "ctypes" in names
    assert "json" in names
