"""Beam coders for the records in ``schemas/``: every record type is encoded with ``RowCoder``.

``schemas/`` imports no Beam (the Beam-free libraries build its records), so the registration lives here, on
the Beam side. ``transforms/__init__.py`` imports this module, which makes it run in every process that builds
or runs a hashwatch pipeline:

- the launcher: every entry point in ``pipelines/`` imports a module of ``transforms``;
- each SDK worker (``--direct_running_mode=multi_processing``, Flink's worker pool): a worker unpickles the
  DoFns it runs, every hashwatch DoFn lives in a ``transforms`` module, and importing one imports this
  package first.

Without it Beam would not fail: its registry falls back to ``FastPrimitivesCoder``, which pickles a
NamedTuple. Keyed state and Flink's Java side would then hold opaque pickles instead of rows. Registering
twice is harmless (the registry maps a type to a coder class)::

    >>> import apache_beam as beam
    >>> from schemas import ImageRecord
    >>> register_record_coders()
    >>> type(beam.coders.registry.get_coder(ImageRecord)).__name__
    'RowCoder'
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.pvalue import PCollection
from apache_beam.typehints import native_type_compatibility

from schemas import RECORD_TYPES

__all__ = ["register_record_coders", "with_element_type"]


def with_element_type(pcoll: PCollection, element_type) -> PCollection:
    """Declare a tagged output's element type (Beam leaves them Any), so its records use RowCoder."""
    pcoll.element_type = native_type_compatibility.convert_to_beam_type(element_type)
    return pcoll


def register_record_coders() -> None:
    """Map each type of :data:`schemas.RECORD_TYPES` to ``RowCoder`` in Beam's coder registry."""
    for record_type in RECORD_TYPES:
        beam.coders.registry.register_coder(record_type, beam.coders.RowCoder)


register_record_coders()
