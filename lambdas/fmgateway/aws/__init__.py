"""Adapters beside the layers: Bedrock (``bedrock``), SageMaker endpoints (``sagemaker``), Bedrock capacity
(``capacity``), AppConfig deployments (``appconfig_deployer``), invocation log objects in S3 (``log_objects``),
DynamoDB stores (``stores``, ``health_store``, ``jobs_store``), AppConfig (``appconfig``), S3 artifacts
(``artifacts``), Powertools telemetry and EMF health events (``telemetry``, ``health_metrics``), API Gateway proxy
events (``http``), the API key directory (``access``), cold-start care (``coldstart``), the invocation-logging custom
resource (``invocation_logging``: Bedrock's control plane and CloudFormation's response URL).

Adapters implement the ports the layers own (``fmgateway.values.ports``, ``fmgateway.health.store.HealthStore``,
``fmgateway.config.gateway_config.ConfigSource``, the jobs stores) and may use any layer; no layer imports them.
Only ``fmgateway.runtime``, ``fmgateway.serving`` and the handlers do.
"""
