"""``fmgw datasets``: training datasets from Bedrock invocation logs (the logic is ``fmgateway.lifecycle.datasets``)."""
