"""The model customization workflow without AWS: ``statemachines/model-customization.asl.json`` created in a moto
(in-process ``mock_aws`` or local mode's moto server) with its notification topic and its bucket, its Lambda task
dispatched in-process to the real handler (``handlers.customization_tasks``) with an environment of its own.

API (local mode and the tests)::

    deployment = deploy(sfn, sns, s3, env)        # boto3 clients of that moto; env: the task's environment overrides
    execution_arn = start(sfn, deployment, spec)  # the execution input is {"spec": spec}
    described = wait(sfn, execution_arn, timeout=60)  # DescribeExecution once it has ended
    remove(deployment)                            # stop dispatching its task (the moto resources stay)

``env`` holds what the stack would set on the task function (``FMGW_CUSTOMIZATION_*``, the configuration source,
``AWS_ENDPOINT_URL_BEDROCK`` / ``_BEDROCK_RUNTIME`` pointing at the simulator, ``AWS_ENDPOINT_URL_S3`` at moto); it is laid
over ``os.environ`` at each call, and ``deploy`` fills in the bucket and the role. The machine's Standard executions
need moto's interpreter on (``local.step_functions.MOTO_SFN_CONFIG``), and its Wait states sleep in real time: use short
``polling`` intervals in the spec. Never deployed: in AWS, CDK deploys the same file (infra/constructs/model_customization.py).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from local.step_functions import Function, function_arn, register, substitute, unregister, wait_for

ROOT = Path(__file__).resolve().parents[1]
DEFINITION = ROOT / "statemachines" / "model-customization.asl.json"
FUNCTION = "fmgw-customization-tasks"
STATE_MACHINE = "fmgw-model-customization"
TOPIC = "fmgw-local-customization"
BUCKET = "fmgw-local-customization"
ROLE_ARN = "arn:aws:iam::123456789012:role/fmgw-local-customization"  # the Bedrock customization service role
STATES_ROLE_ARN = "arn:aws:iam::123456789012:role/fmgw-local-customization-states"
TASK_TIMEOUT_SECONDS = 900  # the task function's timeout in the stack (Lambda's maximum)


class CustomizationDeployment(NamedTuple):
    state_machine_arn: str
    topic_arn: str
    bucket: str
    function_name: str
    env: dict[str, str]  # what the task gets over os.environ


def definition(tasks_function_arn: str, topic_arn: str) -> str:
    """The definition with its placeholders filled (what CDK's DefinitionSubstitutions do)."""
    values = {"CustomizationTasksFunctionArn": tasks_function_arn, "NotificationTopicArn": topic_arn}
    return substitute(DEFINITION.read_text(), values)


def _bucket(s3, name: str, region: str) -> None:
    existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    if name in existing:
        return
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})


def deploy(
    sfn, sns, s3, env: Mapping[str, str] | None = None, *, name: str = STATE_MACHINE, function_name: str = FUNCTION
) -> CustomizationDeployment:
    """Create (or update) the state machine, its topic and bucket; dispatch its task to the real handler."""
    from handlers import customization_tasks

    region = sfn.meta.region_name
    given = dict(env or {})
    bucket = given.get("FMGW_CUSTOMIZATION_BUCKET") or BUCKET
    task_env = {"AWS_REGION": region, **given, "FMGW_CUSTOMIZATION_BUCKET": bucket}
    task_env.setdefault("FMGW_CUSTOMIZATION_ROLE_ARN", ROLE_ARN)
    _bucket(s3, bucket, region)
    topic_arn = sns.create_topic(Name=TOPIC)["TopicArn"]

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return customization_tasks.run(event, {**os.environ, **task_env})

    register({function_name: Function(handler, TASK_TIMEOUT_SECONDS, 1024)})
    text = definition(function_arn(function_name, region), topic_arn)
    found = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == name]
    if found:
        sfn.update_state_machine(stateMachineArn=found[0], definition=text)
        arn = found[0]
    else:
        arn = sfn.create_state_machine(name=name, definition=text, roleArn=STATES_ROLE_ARN, type="STANDARD")["stateMachineArn"]
    return CustomizationDeployment(arn, topic_arn, bucket, function_name, task_env)


def start(sfn, deployment: CustomizationDeployment, spec: dict[str, Any], name: str | None = None) -> str:
    """Start a run (``fmgw customize start`` sends the same input); its execution ARN."""
    execution = name or f"{spec.get('name', 'run')}-{uuid.uuid4().hex[:8]}"
    return sfn.start_execution(stateMachineArn=deployment.state_machine_arn, name=execution, input=json.dumps({"spec": spec}))[
        "executionArn"
    ]


def wait(sfn, execution_arn: str, timeout: float = 120) -> dict[str, Any]:
    """DescribeExecution once the run has ended (``status`` SUCCEEDED with ``output``, or FAILED with ``error``)."""
    return wait_for(sfn, execution_arn, timeout, poll_seconds=0.1)


def remove(deployment: CustomizationDeployment) -> None:
    unregister([deployment.function_name])
