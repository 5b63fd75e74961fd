"""prefect.yaml and the failure automation (issue 20): deployed for real on the test server,
their parameters equal to params.yaml, the automation valid for Prefect's automation API."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import yaml

from pipeline.config import Options, load_params

REPO = Path(__file__).resolve().parents[2]


def deployments() -> list[dict]:
    return yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]


def test_prefect_yaml_parameters_are_params_yaml():
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for deployment in deployments():
        options = deployment["parameters"]["options"]
        differ = sorted(f"{s}.{k}" for s in {*params, *options} for k in {*params.get(s, {}), *options.get(s, {})}
                        if params.get(s, {}).get(k) != options.get(s, {}).get(k))  # fmt: skip
        assert not differ, f"prefect.yaml deployment {deployment['name']} differs from params.yaml at {', '.join(differ)}"
        assert Options.from_json(options) == load_params(REPO / "params.yaml")
        assert deployment["concurrency_limit"] == 1 and deployment["entrypoint"] == "flows/ingest.py:ingest"


def test_prefect_deploy_creates_the_deployments_on_a_process_pool(prefect_server, tmp_path):
    from prefect.client.orchestration import get_client

    prefect = str(Path(sys.executable).with_name("prefect"))
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "FACECORPUS_REPO": str(REPO)}
    subprocess.run([prefect, "work-pool", "create", "facecorpus", "--type", "process"], env=env, cwd=REPO, check=True, capture_output=True)
    deploy = subprocess.run([prefect, "--no-prompt", "deploy", "--all"], env=env, cwd=REPO, capture_output=True, text=True)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr

    async def read(name: str):
        async with get_client() as client:
            return await client.read_deployment_by_name(f"ingest/{name}")

    for expected in deployments():
        deployment = asyncio.run(read(expected["name"]))
        assert deployment.work_pool_name == "facecorpus"
        assert deployment.global_concurrency_limit.limit == 1
        assert deployment.parameters["options"] == expected["parameters"]["options"]
        assert [s.schedule.cron for s in deployment.schedules] == [expected["schedules"][0]["cron"]]


def test_the_failure_automation_is_valid_for_prefect():
    from prefect.events.schemas.automations import AutomationCore

    text = (REPO / "automations" / "ingest-failed.yaml").read_text().replace("${NOTIFY_BLOCK_ID}", str(uuid.uuid4()))
    automation = AutomationCore.model_validate(yaml.safe_load(text))
    assert automation.trigger.expect == {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}
    assert automation.actions[0].type == "send-notification"


def test_the_flow_parameters_are_typed_for_the_ui_form():
    from flows.ingest import IngestParameters, ingest

    schema = ingest.parameters.model_dump()
    sections = schema["definitions"]["IngestParameters"]["properties"]
    assert set(sections) == set(yaml.safe_load((REPO / "params.yaml").read_text()))
    sample = schema["definitions"]["ExtractOptions"]["properties"]["sample"]
    assert sample["default"] == "fps:1" and "keyframes" in sample["description"]  # the option's help, from pipeline/config/
    try:
        IngestParameters.model_validate({"extract": {"sampel": "fps:2"}})
    except ValueError as error:
        assert "extract.sampel" in str(error) and "Extra inputs are not permitted" in str(error)
    else:
        raise AssertionError("an unknown key was accepted")
