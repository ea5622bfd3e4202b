"""The customization workflow's steps (issue 24): what the Lambda tasks of ``statemachines/model-customization.asl.json``
run, one module per seam, all behind small ports so that unit tests run them with in-memory fakes.

``errors`` (the named errors Step Functions sees), ``ports`` (the Bedrock customization control plane, S3 buckets, the
task's settings), ``spec`` (the run spec, checked against the catalog), ``training_data`` (an S3 dataset held to part
1's rules, or invocation logs counted through their ``requestMetadataFilters``), ``job`` (CreateModelCustomizationJob
and its polling), ``capacity`` (the evaluation capacity through part 3's provisioning), ``evaluate`` (a batch of the
evaluation set through part 2's comparison library, in-process), ``decision`` (cost per 1,000 requests and the promote
rule), ``report`` (the report in S3 and the notice), ``cleanup`` (a failed run's job and capacity), ``tasks`` (action ->
step). The workflow never changes live routing: a promoted model is a proposed catalog entry in the report.
"""
