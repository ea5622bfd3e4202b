"""``fmgw jobs``: the async jobs API (``POST /v1/jobs``, ``GET`` and ``DELETE /v1/jobs/{id}``) from the command line."""
