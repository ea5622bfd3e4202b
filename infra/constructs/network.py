"""Optional VPC mode (context ``vpc``, off by default): the functions run in private subnets with no route to the
internet, and reach the AWS services they call through VPC endpoints.

The gateway reaches no private resource, so the default deployment keeps functions outside any VPC (fewer moving
parts, no endpoint cost). This mode exists for teams whose policy requires VPC-attached functions:

- two private isolated subnets (one per AZ), no NAT gateway, flow logs (all traffic) to a log group encrypted with the
  stack key;
- gateway endpoints (free): DynamoDB (state, jobs and idempotency tables), S3 (job results);
- interface endpoints, private DNS on, reachable on 443 only from the functions' security group: ``bedrock-runtime``,
  ``sqs``, ``sns``, ``appconfigdata`` (configuration reads) and ``xray`` (the X-Ray daemon in the execution
  environment sends trace segments over the function's network). Not ``logs``: Lambda ships function logs and EMF
  metrics itself, outside the function's network. Each interface endpoint bills per hour and per AZ.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.compliance import acknowledge, encrypted_log_group

MAX_AZS = 2
HTTPS = ec2.Port.tcp(443)
INTERFACE_ENDPOINTS: dict[str, ec2.InterfaceVpcEndpointAwsService] = {
    "BedrockRuntime": ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME,
    "Sqs": ec2.InterfaceVpcEndpointAwsService.SQS,
    "Sns": ec2.InterfaceVpcEndpointAwsService.SNS,
    "AppConfigData": ec2.InterfaceVpcEndpointAwsService.APPCONFIGDATA,
    "XRay": ec2.InterfaceVpcEndpointAwsService.XRAY,
}
GATEWAY_ENDPOINTS: dict[str, ec2.GatewayVpcEndpointAwsService] = {
    "DynamoDb": ec2.GatewayVpcEndpointAwsService.DYNAMODB,
    "S3": ec2.GatewayVpcEndpointAwsService.S3,
}
VPC_ACCESS_POLICY = "arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"


class GatewayNetwork(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.flow_logs = encrypted_log_group(self, "FlowLogs", key=key, removal_policy=removal_policy)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=MAX_AZS,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="functions", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22)
            ],
            # True would add a custom-resource Lambda (Node.js, managed policy) only to strip the default group's
            # rules; nothing here uses the default group.
            restrict_default_security_group=False,
            flow_logs={
                "AllTraffic": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_logs),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.function_security_group = ec2.SecurityGroup(
            self,
            "FunctionSecurityGroup",
            vpc=self.vpc,
            description="Gateway functions: HTTPS out (the subnets route only to VPC endpoints), nothing in",
            allow_all_outbound=False,
        )
        # Gateway endpoints are reached through their prefix lists, which CloudFormation cannot name: HTTPS to any
        # address, in subnets whose only routes are the VPC and the endpoints.
        self.function_security_group.add_egress_rule(ec2.Peer.any_ipv4(), HTTPS, "HTTPS to the VPC endpoints")
        self.endpoint_security_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="Interface endpoints: HTTPS in from the gateway functions only",
            allow_all_outbound=False,
        )
        self.endpoint_security_group.add_ingress_rule(self.function_security_group, HTTPS, "HTTPS from the gateway functions")
        for name, gateway_service in GATEWAY_ENDPOINTS.items():
            self.vpc.add_gateway_endpoint(name, service=gateway_service, subnets=[self.subnets])
        self.interface_endpoints = {
            name: self.vpc.add_interface_endpoint(
                name,
                service=interface_service,
                private_dns_enabled=True,
                subnets=self.subnets,
                security_groups=[self.endpoint_security_group],
                open=False,
            )
            for name, interface_service in INTERFACE_ENDPOINTS.items()
        }

    def function_placement(self) -> dict[str, Any]:
        """Keyword arguments that put a ``lambda_.Function`` in the private subnets with the functions' group."""
        return {"vpc": self.vpc, "vpc_subnets": self.subnets, "security_groups": [self.function_security_group]}

    @staticmethod
    def acknowledge_function_role(role: iam.IRole) -> None:
        acknowledge(
            role,
            "A VPC-attached function needs ec2:CreateNetworkInterface/DescribeNetworkInterfaces/DeleteNetworkInterface "
            "(and friends), which Lambda documents through this AWS managed policy and which CDK attaches with the VPC.",
            nag=(f"AwsSolutions-IAM4[Policy::{VPC_ACCESS_POLICY}]",),
        )
