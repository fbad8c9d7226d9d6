"""Packaging: every third-party module the application imports is declared in setup.py, and the C extension is
built by the normal install (not optional: a failed build fails the install instead of leaving a slow path)."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APPLICATION = ("hashwatch", "pipelines", "transforms", "schemas")


def _setup_tree() -> ast.Module:
    return ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))


def _declared() -> set[str]:
    """Distributions setup.py names (install_requires and every extra), normalised."""
    names: set[str] = set()
    for node in ast.walk(_setup_tree()):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(==|>=|~=)\s*[^\s]+", node.value)
            if match:
                names.add(_normal(match.group(1)))
        if isinstance(node, ast.JoinedStr) and "apache-beam" in ast.unparse(node):  # f"apache-beam=={V}"
            names.add("apache-beam")
    return names


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported() -> dict[str, str]:
    """Top-level modules the application imports that are neither its own nor the standard library's, each
    with one file that imports it."""
    own = set(APPLICATION)
    found: dict[str, str] = {}
    for folder in APPLICATION:
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    tops = [alias.name.split(".")[0] for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    tops = [node.module.split(".")[0]]
                else:
                    continue
                for top in tops:
                    if top not in own and top not in sys.stdlib_module_names:
                        found.setdefault(top, str(path.relative_to(REPO)))
    return found


def test_every_imported_module_is_declared_in_setup_py():
    """On main scipy (draft_resample.py, blas_threads.py) and grpc (flink_worker_pool.py) came only as other
    packages' dependencies."""
    declared = _declared()
    owners = packages_distributions()
    undeclared = {
        module: where
        for module, where in _imported().items()
        if not {_normal(d) for d in owners.get(module, [module])} & declared
    }
    assert undeclared == {}, f"imported but not in setup.py: {undeclared}"


def test_the_c_extension_is_not_optional():
    extensions = [
        node
        for node in ast.walk(_setup_tree())
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Extension"
    ]
    assert [ast.literal_eval(e.args[0]) for e in extensions] == ["hashwatch.hashing._mih"]
    optional = [k for e in extensions for k in e.keywords if k.arg == "optional"]
    assert all(ast.literal_eval(k.value) is False for k in optional), "a failed build must fail the install"
