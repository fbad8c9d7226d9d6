"""The nightly rescan's logic without Beam: matching the ``images/`` history again (:mod:`.history`) and the
reconciliation rules that decide what to report and what to retract (:mod:`.rules`). :mod:`transforms.rescan`
adapts them to Beam; :mod:`pipelines.rescan` resolves the inputs and runs the graph (docs/rescan.md)."""
