"""The transforms sit below the pipelines: they receive a typed run configuration, never the command line."""

from __future__ import annotations

import ast
from pathlib import Path

TRANSFORMS = Path(__file__).resolve().parents[2] / "transforms"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_transform_imports_the_pipelines_or_reads_pipeline_options():
    offenders = {}
    for path in sorted(TRANSFORMS.glob("*.py")):
        modules = _imported_modules(path)
        bad = sorted(m for m in modules if m == "pipelines" or m.startswith("pipelines."))
        bad += sorted(m for m in modules if m == "apache_beam.options.pipeline_options")
        if bad:
            offenders[path.name] = bad
    assert offenders == {}


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from pipelines.options import KnownHashOptions\n")
    assert "pipelines.options" in _imported_modules(module)
