"""The model lifecycle: logic that the customization workflow's Lambda tasks and the ``fmgw`` command both use
(datasets from invocation logs, evaluation and comparison of candidates, provisioning, the deployer, rollout, the
registry, end of life). So far, datasets from invocation logs (issue 21): ``invocation_logs`` reads Bedrock's log
objects through a storage port, ``exchanges`` turns a record into a text conversation, ``datasets`` selects, filters and
writes records, ``dataset_rules`` holds Bedrock's documented formats and limits, ``dataset_checks`` applies them,
``redaction`` removes e-mail addresses, phone and card numbers. Choosing a model (issue 22): ``evaluation`` (the
evaluation set and scorers), ``comparison`` (models side by side, in-process or through an invoker). Capacity (issue
23): ``provisioning`` (what to buy, its price, the switch and its undo), ``deployer`` (configuration changes that never
overwrite another's). The customization workflow (issue 24): ``customization`` (the state machine's steps, each
behind small ports: spec, training data, job, evaluation capacity, evaluation, decision, report, cleanup).

A request surface: may use ``core`` and everything below, never ``fmgateway.aws``; the ``fmgw`` command imports it,
never the reverse.
"""
