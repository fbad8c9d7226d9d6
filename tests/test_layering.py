"""Layering: the Beam-free libraries import no Beam, and Beam still encodes every record with RowCoder.

``hashwatch/crawling``, ``hashwatch/hashing``, ``hashwatch/video``, ``hashwatch/rescan`` and ``schemas/`` are
plain libraries: importing any of their modules must not load ``apache_beam`` (it took 2.5 s and made
``hashwatch.crawling.robots`` a Beam module, through ``schemas``). The coders of ``schemas``' records are registered on the Beam side
(``transforms/coders.py``, imported by ``transforms/__init__.py``); these tests check, in fresh processes,
that an entry point and an SDK worker process both see ``RowCoder`` for every record type: were the
registration lost, Beam would not fail but pickle the records (``FastPrimitivesCoder``).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).with_name("coder_probe.py")
BEAM_FREE_PACKAGES = (
    "hashwatch.crawling",
    "hashwatch.hashing",
    "hashwatch.video",
    "hashwatch.rescan",
    "schemas",
)
# Modules a Beam-free module may not import, even inside a function: Beam, and the layers built on it.
BEAM_SIDE = ("apache_beam", "transforms", "pipelines")
ENTRY_POINTS = ("pipelines.crawl_match", "pipelines.streaming", "pipelines.rescan")
ROW_CODER_URN = "beam:coder:row:v1"


def _modules(package: str) -> list[str]:
    path = importlib.import_module(package).__path__
    return [package] + sorted(m.name for m in pkgutil.walk_packages(path, package + "."))


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=REPO, timeout=timeout, check=False
    )


def test_importing_the_beam_free_packages_loads_no_beam():
    """Every module of the packages, imported one after the other in a fresh interpreter; the first one
    after which ``apache_beam`` is loaded is named."""
    modules = [m for package in BEAM_FREE_PACKAGES for m in _modules(package)]
    assert "hashwatch.crawling.robots" in modules and "schemas.fetch_log" in modules  # the walk found them
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "    if 'apache_beam' in sys.modules:\n"
        "        print(name)\n"
        "        break\n"
    )
    done = _run("-c", code)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "", f"importing {done.stdout.strip()} loads apache_beam"


def _imports(tree: ast.AST):
    for node in ast.walk(tree):  # at any depth: a function-level import counts too
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


@pytest.mark.parametrize("package", BEAM_FREE_PACKAGES)
def test_no_beam_free_module_imports_beam_even_lazily(package):
    """Also catches an import inside a function, which importing the module does not run."""
    root = Path(importlib.import_module(package).__path__[0])
    files = sorted(root.rglob("*.py"))
    assert files
    found = [
        f"{path.relative_to(REPO)}: import {name}"
        for path in files
        for name in _imports(ast.parse(path.read_text(), str(path)))
        if name.split(".")[0] in BEAM_SIDE
    ]
    assert found == []


def test_every_record_type_of_schemas_is_listed_for_a_coder():
    """A NamedTuple added to ``schemas`` without being listed in ``RECORD_TYPES`` would get no RowCoder."""
    from schemas import RECORD_TYPES

    defined = {
        obj
        for name in _modules("schemas")
        for _, obj in inspect.getmembers(importlib.import_module(name), inspect.isclass)
        if issubclass(obj, tuple) and hasattr(obj, "_fields") and obj.__module__ == name
    }
    assert len(defined) >= 10  # the walk found the records
    assert set(RECORD_TYPES) == defined


@pytest.mark.slow
@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_an_entry_point_alone_gives_every_record_type_rowcoder(entry_point):
    """A fresh process imports one entry point, builds a pipeline with a PCollection of each record type,
    and reads the coder of each from the pipeline proto (what the runner and its workers receive)."""
    done = _run(str(PROBE), "graph", entry_point)
    assert done.returncode == 0, done.stderr[-3000:]
    urns = json.loads(done.stdout.splitlines()[-1])
    assert urns.pop("Unregistered") != ROW_CODER_URN  # the control: the check can tell
    not_rows = {name: urn for name, urn in urns.items() if urn != ROW_CODER_URN}
    assert len(urns) >= 10 and not_rows == {}


@pytest.mark.slow
@pytest.mark.parametrize(
    "target",
    ["multi_processing", pytest.param("flink_cluster", marks=[pytest.mark.flink, pytest.mark.network])],
)
def test_sdk_worker_processes_register_the_record_coders(target, request, tmp_path):
    """On SDK workers in processes of their own (the embedded runner's ``multi_processing`` workers, the
    standalone Flink cluster's worker pool), a DoFn that runs beside a ``transforms`` DoFn sees RowCoder in
    its process's registry for every record type."""
    from flink_support import FNAPI_RUNNER

    if target == "multi_processing":
        flags = [FNAPI_RUNNER, "--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    else:
        flags = request.getfixturevalue(target).argv(parallelism=2)
    done = _run(str(PROBE), "worker", str(tmp_path), *flags)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    workers = result["workers"]
    assert [w["task"] for w in workers] == ["ImageTask"] * 3  # the probe ran after the transforms DoFn
    assert all(w["pid"] not in (result["launcher_pid"], os.getpid()) for w in workers), workers
    for w in workers:
        coders = w["coders"]
        assert coders.pop("Unregistered") == "FastPrimitivesCoder"  # the control: the probe can tell
        assert set(coders.values()) == {"RowCoder"}, coders
