"""The Dask LocalCluster the ingest flow starts opens no dashboard and no port on :8787."""

from __future__ import annotations

import requests

from flows.ingest import task_runner
from pipeline.config import IngestOptions


def test_local_cluster_serves_no_dashboard_and_no_fixed_port():
    from distributed import LocalCluster

    kwargs = task_runner(IngestOptions(runner="dask", dask_workers=1)).cluster_kwargs
    # One in-process worker keeps the test cheap; the scheduler's settings are the flow's.
    with LocalCluster(**{**kwargs, "n_workers": 1, "processes": False}) as cluster:
        http = cluster.scheduler.http_server
        assert http.port != 8787 and http.address == "127.0.0.1"
        assert requests.get(f"http://127.0.0.1:{http.port}/status", timeout=10).status_code == 404  # no dashboard page
        assert requests.get(f"http://127.0.0.1:{http.port}/health", timeout=10).status_code == 200  # the server it did open
