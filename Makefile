# FM Gateway. `make local` runs the gateway on this machine; `make test` runs every test.
# Both install into .venv first if needed. Nothing else is required: no Docker, no AWS account.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt requirements-streaming.txt pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_WORKERS ?= 2
# checkov pins boto3==1.35.49, which cannot share .venv with the project's boto3: it gets a virtual environment of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell cat requirements-checkov.txt | cksum | cut -d' ' -f1)
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install install-checkov checkov local model-access test typecheck imports test-unit test-integration test-infra test-e2e test-clients lint format synth cdk-synth deploy diff bench clean \
	train-router eval-router calibrate-router

# The pinned requirements, then this project editable and without dependencies (they are the requirements): .venv/bin/fmgw
$(STAMP): requirements.txt requirements-dev.txt requirements-streaming.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	rm -f $(CHECKOV_VENV)/.installed-* && touch $(CHECKOV_STAMP)

install-checkov: $(CHECKOV_STAMP)

local: install  ## run the gateway on http://127.0.0.1:8080 (BEDROCK=aws for real Bedrock)
	$(PY) -m local

test: install install-checkov typecheck imports node_modules  ## every test: unit, integration, infrastructure (checkov, asl-validator), end-to-end, architecture (after the type check and the import rules)
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile tests

imports: install  ## the import rules of pyproject.toml ([tool.importlinter]): layers, adapters, what the Lambda code may import
	PYTHONPATH=lambdas:. $(VENV)/bin/lint-imports --no-cache

typecheck: install  ## mypy over the Lambda code: zero errors
	$(PY) -m mypy lambdas

test-unit: install
	$(PY) -m pytest tests/unit

test-integration: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) tests/integration

test-infra: install install-checkov node_modules
	$(PY) -m pytest tests/infra

test-e2e: install
	$(PY) -m pytest tests/e2e

# The client libraries people bring, each in a venv of its own under .venv-clients/ (made once per requirements hash),
# against local mode over HTTP and HTTPS (clients/run.py). CI runs it after `make test`.
test-clients: install  ## the client matrix: openai, boto3, langchain-aws, instructor, litellm against local mode
	$(PY) clients/run.py

lint: install imports
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

synth: install  ## CloudFormation into cdk.out/ with cdk-nag (AwsSolutions and Serverless packs) enforced
	CDK_OUTDIR=cdk.out $(PY) app.py

checkov: synth install-checkov  ## checkov on the synthesized template (skips carry their reason on the resource)
	$(CHECKOV_VENV)/bin/checkov --framework cloudformation --skip-download --quiet -f cdk.out/FmGateway-*.template.json

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch node_modules

cdk-synth: install node_modules  ## the same synth through the pinned CDK CLI (what deploy runs first)
	npx cdk synth --quiet --app "$(PY) app.py" --output cdk.out

deploy: install node_modules  ## needs AWS credentials; CDK_CONTEXT="-c environment=prod -c region=us-west-2"
	npx cdk deploy --app "$(PY) app.py" $(CDK_CONTEXT)

diff: install node_modules
	npx cdk diff --app "$(PY) app.py" $(CDK_CONTEXT)

model-access: install  ## the Bedrock model-access checklist for a region: make model-access REGION=us-west-2
	$(VENV)/bin/fmgw models access $(if $(REGION),--region $(REGION))

bench: install  ## prints the overhead, cold-start and cost tables
	$(PY) -m bench

# The auto router's difficulty score (router_training/, never in the Lambda bundle). Data: ../shared/routing-data
# or FMGW_ROUTING_DATA=DIR; ROUTER_ARGS="--extra my-labels.csv" adds your own labelled traffic.
train-router: install  ## fit the score, calibrate thresholds to contentRouting.shares, write the bundled artifact
	$(PY) -m router_training train $(ROUTER_ARGS)

eval-router: install  ## 5-fold CV curves, APGR and CPT(50%) per benchmark vs today's heuristic, length, random
	$(PY) -m router_training eval $(ROUTER_ARGS)

calibrate-router: install  ## recompute the artifact's thresholds after contentRouting.shares changed
	$(PY) -m router_training calibrate $(ROUTER_ARGS)

clean:
	rm -rf cdk.out build .pytest_cache .ruff_cache .venv-clients
