"""Example Airflow DAG: the nightly hashwatch rescan with Beam's operator (docs/rescan.md, "Scheduling").

An example to copy into your DAGs folder and edit, not part of hashwatch (Airflow is not a dependency).
Needs ``apache-airflow-providers-apache-beam`` on the Airflow side, and on the worker that runs the task a
hashwatch checkout with its virtualenv (``make venv``); the operator runs
``<py_interpreter> <py_file> --runner=... --history-dir=...`` there.

Retries are safe: a failed or killed rescan followed by another one reports every match and retraction
exactly once. Two rescans of the same output folder at the same time are not: ``max_active_runs=1``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator

HASHWATCH = "/opt/hashwatch"  # the checkout; its .venv has hashwatch installed
DATA = "/data/hashwatch"  # the crawls' --output-dir: images/ is read, matches/ and retractions/ are written
LISTS = ["/data/lists/iwf.csv", "/data/lists/iwf-deltas.csv", "/data/lists/ncmec.parquet"]  # in merge order

with DAG(
    dag_id="hashwatch_nightly_rescan",
    schedule="30 2 * * *",  # after the day's list deltas arrive
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,  # one rescan at a time per output folder
    default_args={"retries": 2, "retry_delay": timedelta(minutes=15)},
    tags=["hashwatch"],
) as dag:
    BeamRunPythonPipelineOperator(
        task_id="rescan",
        py_file=f"{HASHWATCH}/pipelines/rescan.py",
        py_interpreter=f"{HASHWATCH}/.venv/bin/python",
        runner="DirectRunner",  # hashwatch runs it on Beam's embedded FnApiRunner
        pipeline_options={
            "history-dir": DATA,
            "hash-list": LISTS,  # a list becomes one --hash-list=... per file
            "allowlist": "/data/lists/allowlist.csv",
            "direct_num_workers": 8,
            "direct_running_mode": "multi_processing",
        },
    )
    # On Flink instead (docs/flink.md): runner="FlinkRunner" and, in pipeline_options,
    # "flink_master": "flink-jm:8081", "environment_type": "EXTERNAL", "environment_config": "localhost:50000",
    # "parallelism": 32, "flink_job_server_jar": "/opt/hashwatch/.cache/flink-job-server/<launcher>.jar".
