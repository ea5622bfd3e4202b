"""``fmgw models``: the models a deployment uses (``access``: the Bedrock model-access checklist; room for the
lifecycle commands to come)."""
