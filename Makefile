# kubeless-fastapi: `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
EXAMPLE ?= examples/01-greeting/greeting.py
HANDLER ?= get_greeting
PORT ?= 8080

##@ General

.PHONY: help
help: ## Show this list of targets.
	@awk 'BEGIN {FS = ":.*##"} \
	  /^##@/ {printf "\n\033[1m%s\033[0m\n", substr($$0, 5); next} \
	  /^[a-zA-Z0-9_-]+:.*##/ {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Development

$(INSTALLED): requirements/dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-virtualenv -r requirements/dev.txt
	$(BIN)/pip install --quiet --require-virtualenv --no-deps -e .
	touch $@

.PHONY: install
install: $(INSTALLED) ## Create .venv with the pinned dependencies and the project.

.PHONY: lock
lock: $(INSTALLED) ## Re-pin requirements/*.txt from pyproject.toml.
	@# The images run Python 3.12; the development venv may be older.
	$(BIN)/uv pip compile pyproject.toml --python-version 3.12 -q -o requirements/runtime.txt
	$(BIN)/uv pip compile pyproject.toml --python-version 3.12 -q --extra operator \
	  -o requirements/operator.txt
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 -q --extra operator --extra dev \
	  -o requirements/dev.txt

.PHONY: lint
lint: $(INSTALLED) ## Run ruff, mypy and hadolint.
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile.*

.PHONY: run
run: $(INSTALLED) ## Serve the greeting example on http://127.0.0.1:8080 (PORT=... to move it).
	$(BIN)/kubeless-fastapi serve $(EXAMPLE) --handler $(HANDLER) --port $(PORT)

.PHONY: test
test: $(INSTALLED) cluster-build ## Run every test (builds the local control plane on first use).
	@# pytest exits 5 when it collected nothing; that must fail loudly, never pass.
	@$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	  exit $$rc

.PHONY: bench
bench: $(INSTALLED) ## Benchmark the runtime against a hand-written FastAPI app.
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } \
	  || { echo "make bench needs wrk (Debian package 'wrk')" >&2; exit 2; }
	$(BIN)/python -m bench.runtime

##@ Local cluster

# Real etcd, kube-apiserver, kube-controller-manager and kube-scheduler, with
# kwok's fake nodes; versions in hack/cluster/versions.env, binaries cached
# outside the work tree (see the README).

CLUSTER_DIR ?= $(CURDIR)/.cluster
KUBECTL = $(CLUSTER_DIR)/bin/kubectl --kubeconfig $(CLUSTER_DIR)/kubeconfig

.PHONY: cluster-build
cluster-build: ## Build (or reuse) the control plane binaries, kubectl, kwok and helm.
	@hack/cluster/build.sh >/dev/null

# up.sh builds (or reuses) the binaries itself, under its lock; cluster-build
# as a prerequisite would only say "reusing" a second time.
.PHONY: cluster-up
cluster-up: ## Start the local control plane with the Function CRD; writes .cluster/kubeconfig.
	@hack/cluster/up.sh
	@# Without the CRD the operator has nothing to watch. Applied on every run, so
	@# that a changed crds/ reaches a cluster that was already up.
	@$(KUBECTL) apply --server-side --force-conflicts -f crds/ >/dev/null
	@$(KUBECTL) wait --for=condition=Established --timeout=60s \
	  crd/functions.kubeless.io >/dev/null
	@echo "cluster: Function CRD from crds/ installed" >&2

.PHONY: cluster-down
cluster-down: ## Stop the local control plane and remove .cluster/.
	@hack/cluster/down.sh

##@ Build and deployment

VERSION ?= 0.1.0
RUNTIME_IMAGE ?= kubeless-fastapi/runtime:$(VERSION)
OPERATOR_IMAGE ?= kubeless-fastapi/operator:$(VERSION)
CHART := charts/kubeless-fastapi

.PHONY: images
images: ## Build the runtime and operator images (needs a Docker engine).
	@docker info >/dev/null 2>&1 || { \
	  echo "make images needs a running Docker engine; none answers here." >&2; exit 2; }
	docker build -f Dockerfile.runtime -t $(RUNTIME_IMAGE) .
	docker build -f Dockerfile.operator -t $(OPERATOR_IMAGE) .

.PHONY: chart-lint
chart-lint: ## Lint the Helm chart, cluster-wide and namespaced.
	@helm="$$(hack/cluster/build.sh)/helm" && \
	  $$helm lint --strict $(CHART) && \
	  $$helm lint --strict $(CHART) --set 'watchNamespaces={team-a,team-b}'

.PHONY: e2e
e2e: $(INSTALLED) ## End-to-end on kind: images, chart, every example called (needs Docker).
	$(BIN)/pip install --quiet pytest-kind==22.11.1
	$(BIN)/pytest tests/e2e --cluster=kind -v

##@ Operator

.PHONY: demo
demo: $(INSTALLED) cluster-up ## Run the operator on the local cluster and show every example Ready.
	@hack/demo.sh

.PHONY: bench-operator
bench-operator: $(INSTALLED) cluster-up ## Time 200 Functions through the operator against direct creation.
	$(BIN)/python -m bench.operator
