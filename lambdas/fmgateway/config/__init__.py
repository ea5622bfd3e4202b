"""Configuration: the gateway document (``gateway_config``: parsing, schema and cross-field checks, the file source),
the model catalog (``catalog``), the embedding catalog (``embedding_catalog``), the JSON schemas every request and
document is checked against (``schemas``) and the checks of routing-strategy settings (``strategy_checks``).

May use ``fmgateway.values`` only. The AppConfig source is an adapter: ``fmgateway.aws.appconfig``.
"""
