#!/usr/bin/env python3
"""CDK entry point: ``python app.py`` (or ``npx cdk synth``) writes cdk.out/FmGateway-<environment>.template.json.

cdk-nag's AwsSolutions and Serverless packs run as policy-validation plugins: a finding without an acknowledgement next
to the construct it excuses fails the synth (and is listed in cdk.out's validation report).
"""

from __future__ import annotations

import os
from pathlib import Path

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from infra.settings import cdk_json_context
from infra.stack import create_stack

ROOT = Path(__file__).resolve().parent


def main() -> None:
    # Run by the CDK CLI, the context also arrives through CDK_CONTEXT_JSON and takes precedence over these defaults.
    app = App(outdir=os.environ.get("CDK_OUTDIR") or str(ROOT / "cdk.out"), context=cdk_json_context())
    create_stack(app)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    app.synth()


if __name__ == "__main__":
    main()
