"""Which coder Beam gives each ``schemas`` record type, in a fresh process (run as a script by
tests/test_layering.py; a pytest process has imported everything already, so only a fresh one can tell).

``python tests/coder_probe.py graph MODULE``: import MODULE (an entry point, e.g. ``pipelines.crawl_match``)
and nothing else of hashwatch, build a pipeline with one PCollection of each record type, and print
``{record type name: coder URN}`` of the pipeline proto as JSON (``beam:coder:row:v1`` when RowCoder).

``python tests/coder_probe.py worker OUT_DIR [Beam flags]``: run a pipeline whose image references go
through ``ImageTasksFromRefs`` (a ``transforms`` DoFn) and then through a probe DoFn fused with it. The probe
is defined in ``__main__``, so Beam pickles it by value: the SDK worker imports nothing of hashwatch for it
(``schemas`` only, which is Beam-free). Each probe element records the worker's pid and the coder class its
registry gives every record type, plus an unregistered control type (``FastPrimitivesCoder``: the probe can
tell). Prints ``{"launcher_pid": ..., "workers": [...]}`` as JSON.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import NamedTuple

import apache_beam as beam

# Run as a script, this folder comes first on sys.path, where tests/schemas/ would shadow the schemas package.
sys.path[0] = str(Path(__file__).resolve().parents[1])


class Unregistered(NamedTuple):
    """The control: a record type nobody registers a coder for."""

    x: int


def graph(module: str) -> dict[str, str]:
    importlib.import_module(module)
    from schemas import RECORD_TYPES

    pipeline = beam.Pipeline()
    impulse = pipeline | beam.Impulse()
    pcolls = {
        t.__name__: impulse | f"Make{t.__name__}" >> beam.FlatMap(lambda _: []).with_output_types(t)
        for t in (*RECORD_TYPES, Unregistered)
    }
    proto, context = pipeline.to_runner_api(return_context=True)
    components = proto.components
    return {
        name: components.coders[components.pcollections[context.pcollections.get_id(pcoll)].coder_id].spec.urn
        for name, pcoll in pcolls.items()
    }


class _Probe(beam.DoFn):
    def process(self, task):
        # Pickled by value, without this module's globals: everything it uses is imported here.
        import json
        import os
        from typing import NamedTuple

        from apache_beam.coders import registry

        from schemas import RECORD_TYPES

        class Unregistered(NamedTuple):  # the control, as above
            x: int

        coders = {t.__name__: type(registry.get_coder(t)).__name__ for t in (*RECORD_TYPES, Unregistered)}
        yield json.dumps({"pid": os.getpid(), "task": type(task).__name__, "coders": coders})


def worker(out_dir: str, flags: list[str]) -> dict:
    from apache_beam.options.pipeline_options import PipelineOptions

    from schemas import ImageRef
    from transforms.crawl import ImageTasksFromRefs

    refs = [
        ImageRef(f"http://a.test/{i % 3}.png", f"http://a.test/p{i}", 1, "http://a.test/") for i in range(6)
    ]
    with beam.Pipeline(options=PipelineOptions(flags)) as pipeline:
        _ = (
            pipeline
            | beam.Create(refs)
            | ImageTasksFromRefs()
            | beam.ParDo(_Probe())
            | beam.io.WriteToText(str(Path(out_dir) / "probe"), file_name_suffix=".jsonl")
        )
    lines = [
        line for path in sorted(Path(out_dir).glob("probe*.jsonl")) for line in path.read_text().splitlines()
    ]
    return {"launcher_pid": os.getpid(), "workers": [json.loads(line) for line in lines]}


if __name__ == "__main__":
    command, argument, *rest = sys.argv[1:]
    result = graph(argument) if command == "graph" else worker(argument, rest)
    print(json.dumps(result))
