"""Async jobs: submit, run, cancel, sweep and their records (``service``), over small store and queue ports.

A request surface: may use ``core`` and everything below; the DynamoDB/SQS/S3/SNS side is ``fmgateway.aws.jobs_store``.
"""
