"""Running hashwatch on a Flink cluster: what the launcher and the cluster scripts need besides Beam's runner.

- :mod:`hashwatch.flink.rest`: Flink's REST API (a job's state, restarts, failures, checkpoints, late drops;
  stop with a savepoint; cancel). Standard library only: ``deploy/flink/cluster.sh stop`` runs it with the
  system's ``python3``.
- :mod:`hashwatch.flink.job_watch`: the launcher's eye on a streaming job (restarts and outages as they happen).
- :mod:`hashwatch.flink.warm_job_server`: finds the bundled cluster's running job server, which the launcher
  then submits to instead of starting one per run.
- :mod:`hashwatch.flink.worker_pool`: the Beam worker pool of Flink's EXTERNAL environment
  (``python -m hashwatch.flink.worker_pool``), the one module here that imports Beam (it runs Beam's SDK
  workers); importing this package or the others loads no Beam.

The pipelines that check a Flink set-up are entry points, on the pipelines side: ``pipelines/flink_smoke.py``
(end to end in a few seconds) and ``pipelines/lateness_probe.py`` (elements dropped at checkpoints).
docs/flink.md explains it all.
"""
