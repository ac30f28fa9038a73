# The developer interface. `make demo` runs the simulator on the example day; `make test` runs
# everything CI runs. Targets install what they need (idempotent: stamp files make reruns fast).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

VENV := .venv
TOOLS := .venv-tools
SAM_CLI_VERSION := 1.170.0
SAM := $(TOOLS)/bin/sam
# checkov gets a venv of its own: its pinned dependencies conflict with the SAM CLI's.
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30
CHECKOV := $(CHECKOV_VENV)/bin/checkov
BUILD_DIR := .aws-sam/build
HOST_BUILD_DIR := .aws-sam/host-build
OUT := out

# Python for our venv: 3.11 when it runs, else python3 (requires-python is >=3.11).
# Both are looked up on first use only (`$(eval ...)`), and either can be given: make PYTHON312=...
ifeq ($(origin BOOTSTRAP_PYTHON),undefined)
BOOTSTRAP_PYTHON = $(eval BOOTSTRAP_PYTHON := $(shell \
	python3.11 -c 'import sys; print(sys.executable)' 2>/dev/null || command -v python3 || true))$(BOOTSTRAP_PYTHON)
endif

# Python 3.12 (the Lambda runtime) for `sam build` and the handler import check:
# pyenv's 3.12.1, else another pyenv 3.12.x, else a python3.12 on PATH that runs (not a bare pyenv shim).
ifeq ($(origin PYTHON312),undefined)
PYTHON312 = $(eval PYTHON312 := $(shell \
	if command -v pyenv >/dev/null 2>&1; then \
	  for v in 3.12.1 $$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12\.[0-9]+$$' | sort -rV); do \
	    p=$$(pyenv prefix $$v 2>/dev/null) && [ -x "$$p/bin/python3.12" ] && { echo "$$p/bin/python3.12"; exit 0; }; \
	  done; \
	fi; \
	python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null || true))$(PYTHON312)
endif
PY312_DIR = $(dir $(PYTHON312))

# The host's manylinux platform: compiled wheels in the layer must match it to import here.
HOST_ARCH := $(shell uname -m)
HOST_LAYER_PLATFORM := manylinux2014_$(HOST_ARCH)

# Offline SAM: no telemetry, and a region for cfn-lint / the SAM translator.
SAM_ENV := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1
# SAM runs `make` for the layer (BuildMethod: makefile); keep our make's flags out of it.
SAM_MAKE_ENV := env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES

PY_PATHS := $(wildcard shared functions simulator tests benchmarks scripts)
TEST_STAGES := lint imports typecheck pytest validate checkov build check-handlers
# check-handlers imports every handler once per line (template parameter overrides, "" = defaults).
CHECK_HANDLER_PARAMS ?= "" "Tracing=Active"

export AWS_ACCOUNT_ID_ENDPOINT_MODE := disabled
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv install tools demo lint imports typecheck pytest unit validate checkov checkov-tools build host-build \
	check-handlers test bench bench-api bench-heat fmt clean distclean pr python312 mutation openapi

help:
	@echo "make demo            install, then run the simulator on examples/email-day (state and digest in $(OUT)/)"
	@echo "make test            $(TEST_STAGES) (KEEP_GOING=1: run all, then report)"
	@echo "make install         .venv (project + dev tools), .venv-tools (SAM CLI $(SAM_CLI_VERSION)), $(CHECKOV_VENV) (checkov $(CHECKOV_VERSION))"
	@echo "make lint|imports|typecheck|pytest|validate|checkov|build|check-handlers   one stage of make test"
	@echo "make bench           run benchmarks/bench_*.py (ratios against a baseline of the same run)"
	@echo "make bench-api       the agent API's speed: warm p50/p95 per route on moto, and cold start"
	@echo "make bench-heat      key heat at the target load (full profile, ~15-25 min): hot partitions, checks, allow-list"
	@echo "make mutation        mutmut on shared/logic (calendar sla routing threading); slow, not in make test"
	@echo "make openapi         regenerate docs/openapi.json and docs/openapi-reports.json from the code (make test checks them)"
	@echo "make fmt             ruff format + ruff check --fix"
	@echo "make pr              fmt, then test"
	@echo "make clean           build outputs and caches (distclean also removes the venvs)"

# -- environments -------------------------------------------------------------------------------
$(VENV)/.stamp-install: pyproject.toml shared/requirements.txt
	@test -n "$(BOOTSTRAP_PYTHON)" || { echo "error: no python3.11 or python3 found" >&2; exit 1; }
	@test -x $(VENV)/bin/python || $(BOOTSTRAP_PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	@touch $@

$(TOOLS)/.stamp-sam-$(SAM_CLI_VERSION):
	@test -n "$(BOOTSTRAP_PYTHON)" || { echo "error: no python3.11 or python3 found" >&2; exit 1; }
	@test -x $(TOOLS)/bin/python || $(BOOTSTRAP_PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet 'aws-sam-cli==$(SAM_CLI_VERSION)'
	@rm -f $(TOOLS)/.stamp-sam-*
	@touch $@

$(CHECKOV_VENV)/.stamp-checkov-$(CHECKOV_VERSION):
	@test -n "$(BOOTSTRAP_PYTHON)" || { echo "error: no python3.11 or python3 found" >&2; exit 1; }
	@test -x $(CHECKOV_VENV)/bin/python || $(BOOTSTRAP_PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	@rm -f $(CHECKOV_VENV)/.stamp-checkov-*
	@touch $@

venv: $(VENV)/.stamp-install
tools: $(TOOLS)/.stamp-sam-$(SAM_CLI_VERSION)
checkov-tools: $(CHECKOV_VENV)/.stamp-checkov-$(CHECKOV_VERSION)
install: venv tools checkov-tools

python312:
	@test -n "$(PYTHON312)" && "$(PYTHON312)" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null || { \
	  echo "error: Python 3.12 (the Lambda runtime) is needed for sam build and check-handlers." >&2; \
	  echo "       Install it (e.g. 'pyenv install 3.12.1', or your OS's python3.12) or pass PYTHON312=/path/to/python3.12." >&2; \
	  exit 1; }

# -- the demo -----------------------------------------------------------------------------------
demo: install
	@mkdir -p $(OUT)
	$(VENV)/bin/helpdesk simulate examples/email-day/scenario.jsonl --out $(OUT)/demo-state.json \
		--digest-dir $(OUT)

# -- test stages --------------------------------------------------------------------------------
lint: venv
	$(VENV)/bin/ruff check $(PY_PATHS)
	$(VENV)/bin/ruff format --check $(PY_PATHS)

# The import contracts of pyproject.toml ([tool.importlinter]): the layers, no circles, the AWS SDK
# only in adapters (docs/architecture.md, "Layers"). Offline; no cache left in the tree.
imports: venv
	$(VENV)/bin/lint-imports --no-cache

typecheck: venv
	$(VENV)/bin/mypy $(PY_PATHS)

# The full log is kept in out/pytest.log so CI can repeat pytest's summary line at its end.
# Tests run in parallel worker processes (pytest-xdist), a file per worker at a time so module
# fixtures are built once; PYTEST_WORKERS=0 runs them in this process.
PYTEST_WORKERS ?= auto
pytest: venv
	@mkdir -p $(OUT)
	$(VENV)/bin/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile | tee $(OUT)/pytest.log

unit: pytest

validate: tools
	$(SAM_ENV) $(SAM) validate --lint

# Security checks of the template, offline (--skip-download: no Prisma Cloud look-ups). Each
# accepted finding is skipped inline in template.yaml with its reason (README, "Security").
checkov: checkov-tools
	$(CHECKOV) --file template.yaml --framework cloudformation --compact --quiet --skip-download

build: tools python312
	PATH="$(PY312_DIR):$$PATH" $(SAM_MAKE_ENV) $(SAM_ENV) $(SAM) build --build-dir $(BUILD_DIR)

# The same build with the layer's wheels for this machine (LAYER_PLATFORM reaches shared/Makefile
# through SAM's environment), so compiled dependencies (pydantic_core, nh3) import here.
host-build: tools python312
	PATH="$(PY312_DIR):$$PATH" $(SAM_MAKE_ENV) $(SAM_ENV) LAYER_PLATFORM=$(HOST_LAYER_PLATFORM) \
		$(SAM) build --build-dir $(HOST_BUILD_DIR)

check-handlers: venv python312 host-build
	@for params in $(CHECK_HANDLER_PARAMS); do \
	  $(VENV)/bin/python scripts/check_built_handlers.py --build-dir $(HOST_BUILD_DIR) \
	    --python "$(PYTHON312)" $${params:+--param "$$params"}; \
	done

# Runs every stage and prints how long each took. It stops at the first failing stage, unless
# KEEP_GOING=1: then it runs them all and fails at the end, naming the stages that failed.
test: install
	@timings=""; failed=""; \
	for stage in $(TEST_STAGES); do \
	  echo "==> make $$stage"; start=$$(date +%s); \
	  if $(MAKE) $$stage; then result=ok; else result=FAILED; failed="$$failed $$stage"; fi; \
	  timings="$$timings $$stage=$$(( $$(date +%s) - start ))s"; \
	  [ "$$result" = ok ] && continue; \
	  if [ -z "$(KEEP_GOING)" ]; then break; fi; \
	done; \
	echo "make test timings:$$timings"; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed" >&2; exit 1; fi; \
	echo "make test: all stages passed"

pr: fmt test

# -- mutation testing (not part of make test: ~30 minutes on one core) ---------------------------
# mutmut copies the tree into mutants/ and runs the fast unit tests named in pyproject's
# [tool.mutmut] against each mutant, one module at a time. Results are cached in mutants/: a rerun
# only checks what changed. MUTATION_MODULES=routing narrows it; docs/testing.md has the scores.
MUTATION_MODULES ?= calendar sla routing threading
MUTATION_CHILDREN ?= 1
mutation: venv
	@for module in $(MUTATION_MODULES); do \
	  echo "==> mutmut: shared/logic/$$module.py"; \
	  $(VENV)/bin/mutmut run --max-children $(MUTATION_CHILDREN) "shared.logic.$$module.*"; \
	done
	@$(VENV)/bin/mutmut results --all true | awk '{ split($$1, name, "."); module = name[3]; \
	  total[module]++; if ($$2 == "killed" || $$2 == "timeout") killed[module]++; \
	  else if ($$2 == "survived") print } \
	  END { for (m in total) printf "%-10s %d/%d killed\n", m, killed[m], total[m] }'

# -- other --------------------------------------------------------------------------------------
bench: venv
	@for bench in benchmarks/bench_*.py; do \
	  echo "==> $$bench"; PYTHONPATH=. $(VENV)/bin/python "$$bench"; \
	done

# What a person waits on (docs/agent-api.md, "Speed"): warm latency per route of the agent API on
# moto, then the import cost of agent_api and social_webhook against the boto3 floor (with their
# SnapStart before-snapshot hooks). BENCH_CALLS and BENCH_RUNS keep it short or make it steadier.
BENCH_CALLS ?= 15
BENCH_RUNS ?= 7
bench-api: venv
	PYTHONPATH=. $(VENV)/bin/python benchmarks/bench_agent_api.py --calls $(BENCH_CALLS)
	PYTHONPATH=. $(VENV)/bin/python benchmarks/bench_cold_start.py --runs $(BENCH_RUNS) \
		--only AgentApiFunction,SocialWebhookFunction

# Key heat (issue 17, docs/scale.md): the target load at a fraction through the real handlers on moto,
# partitions, streams and functions checked against AWS limits and benchmarks/heat/allowed.yaml.
# The ci profile runs in make test (tests/integration/test_bench_key_heat.py).
HEAT_PROFILE ?= full
bench-heat: venv
	@mkdir -p $(OUT)
	PYTHONPATH=. $(VENV)/bin/python benchmarks/bench_key_heat.py --profile $(HEAT_PROFILE) --report $(OUT)/key-heat-$(HEAT_PROFILE).txt

# The agent API's OpenAPI document, generated from functions/agent_api/app.py. `make test` fails
# (tests/unit/test_openapi_document.py) while the committed copy differs from what the code makes.
openapi: venv
	PYTHONPATH=. $(VENV)/bin/python scripts/openapi.py

fmt: venv
	$(VENV)/bin/ruff format $(PY_PATHS)
	$(VENV)/bin/ruff check --fix --exit-zero --quiet $(PY_PATHS)

clean:
	rm -rf .aws-sam $(OUT) .mypy_cache .ruff_cache .pytest_cache .hypothesis mutants .import_linter_cache
	find . -path ./$(VENV) -prune -o -path ./$(TOOLS) -prune -o -path ./$(CHECKOV_VENV) -prune -o -name __pycache__ -type d -print0 | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) $(TOOLS) $(CHECKOV_VENV) *.egg-info
