"""Our pipeline flags must not be prefixes of Beam's own flags.

Beam parses each options view with argparse, which accepts any unambiguous prefix of a flag. A view that
does not know our ``--output`` therefore reads it as Beam's ``--output_executable_path``: on Flink (any
portable runner) the job server then writes a jar to that path instead of running the pipeline. The same
goes for ``--temp`` (``--temp_location``), ``--parallel`` (``--parallelism``) and others. Fast; no Java.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

import apache_beam  # noqa: F401  (registers Beam's options classes)
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

PROJECT_PACKAGES = ("hashwatch", "pipelines", "transforms", "schemas")


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _flags(options_cls) -> set[str]:
    parser = argparse.ArgumentParser(add_help=False, conflict_handler="resolve")
    options_cls._add_argparse_args(parser)
    return {flag for action in parser._actions for flag in action.option_strings}


def _import_project_modules() -> None:
    for package_name in PROJECT_PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            importlib.import_module(module.name)


def prefix_collisions(options_cls, beam_flags: set[str]) -> list[str]:
    """``'--ours' -> '--beams'`` for every flag of ``options_cls`` that equals or prefixes a Beam flag."""
    return [
        f"{ours} -> {theirs}"
        for ours in sorted(_flags(options_cls))
        for theirs in sorted(beam_flags)
        if theirs.startswith(ours)
    ]


def _beam_flags() -> set[str]:
    flags: set[str] = set()
    for cls in set(_subclasses(PipelineOptions)):
        if cls.__module__.startswith("apache_beam."):
            flags |= _flags(cls)
    return flags


def test_the_check_catches_output():
    # Not a PipelineOptions subclass: one would stay registered and change option parsing for other tests.
    class Risky:
        @classmethod
        def _add_argparse_args(cls, parser):
            parser.add_argument("--output")

    assert prefix_collisions(Risky, _beam_flags()) == ["--output -> --output_executable_path"]


def test_project_pipeline_flags_are_not_prefixes_of_beam_flags():
    _import_project_modules()
    beam_flags = _beam_flags()
    ours = [cls for cls in set(_subclasses(PipelineOptions)) if cls.__module__.startswith(PROJECT_PACKAGES)]
    if not ours:
        pytest.skip("no PipelineOptions subclasses in the project yet")
    problems = {f"{cls.__module__}.{cls.__name__}": prefix_collisions(cls, beam_flags) for cls in ours}
    assert not {name: found for name, found in problems.items() if found}, (
        "rename these flags (argparse would read them as Beam's; see docs/flink.md, Pitfalls)"
    )
