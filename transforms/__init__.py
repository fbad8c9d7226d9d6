"""Beam PTransforms and their DoFns: thin adapters over the Beam-free libraries in ``hashwatch/``.

Importing any module of this package first registers ``RowCoder`` for every record type of ``schemas/``
(:mod:`transforms.coders`), in the launcher and in each SDK worker that unpickles one of these DoFns.
"""

import transforms.coders  # noqa: F401  (registers the record coders; see its docstring)
