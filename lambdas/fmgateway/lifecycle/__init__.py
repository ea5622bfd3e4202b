"""The model lifecycle: logic that the customization workflow's Lambda tasks and the ``fmgw`` command both use
(datasets from invocation logs, evaluation and comparison of candidates, provisioning, the deployer, rollout, the
registry, end of life). Empty until the lifecycle issues land.

A request surface: may use ``core`` and everything below, never ``fmgateway.aws``; the ``fmgw`` command imports it,
never the reverse.
"""
