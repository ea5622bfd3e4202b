"""The Bedrock control plane's capacity calls (``fmgateway.lifecycle.provisioning.CapacityControl``) through boto3's
``bedrock`` client: Provisioned Throughput and on-demand custom model deployments (local mode: the simulator serves
them, ``AWS_ENDPOINT_URL_BEDROCK``)."""

from __future__ import annotations

import uuid
from typing import Any

from fmgateway.values.backends import CUSTOM_DEPLOYMENT, PROVISIONED


class BedrockCapacity:
    def __init__(self, client: Any):
        self.client = client

    def create(self, kind: str, name: str, model: str, units: int, commitment: str | None) -> str:
        token = str(uuid.uuid4())  # one purchase per command run, even if boto3 retries the call
        if kind == PROVISIONED:
            fields: dict[str, Any] = {
                "modelUnits": units,
                "provisionedModelName": name,
                "modelId": model,
                "clientRequestToken": token,
            }
            if commitment:
                fields["commitmentDuration"] = commitment
            return self.client.create_provisioned_model_throughput(**fields)["provisionedModelArn"]
        if kind == CUSTOM_DEPLOYMENT:
            created = self.client.create_custom_model_deployment(
                modelDeploymentName=name, modelArn=model, clientRequestToken=token
            )
            return created["customModelDeploymentArn"]
        raise ValueError(f"no capacity of kind {kind}")

    def status(self, kind: str, arn: str) -> tuple[str, str]:
        if kind == PROVISIONED:
            found = self.client.get_provisioned_model_throughput(provisionedModelId=arn)
        else:
            found = self.client.get_custom_model_deployment(customModelDeploymentIdentifier=arn)
        return found["status"], found.get("failureMessage", "")

    def delete(self, kind: str, arn: str) -> None:
        if kind == PROVISIONED:
            self.client.delete_provisioned_model_throughput(provisionedModelId=arn)
        else:
            self.client.delete_custom_model_deployment(customModelDeploymentIdentifier=arn)
