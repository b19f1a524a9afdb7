# The two commands of the README, and the rest. Every target installs what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo

.PHONY: help dev demo test lint bench soak build tools

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

dev: ## the local stack: PostgreSQL, migrations, a demo workspace, all four functions on 127.0.0.1:9000
	scripts/dev.sh

demo: ## plays the Calendly reschedule story against `make dev` with real signatures, prints the timeline
	scripts/demo.sh

test: lint ## run every test (starts its own PostgreSQL; installs Debian's postgresql if missing) and lint the template
	CARGO=$(CARGO) scripts/test.sh

lint: ## sam validate --lint and cfn-lint on template.yaml (installs them into .tools/ if missing)
	scripts/lint-template.sh

bench: ## write-path benchmark: throughput, p50/p99, round trips, against pgbench replaying the same SQL
	$(CARGO) bench -p shared --bench record --locked

soak: ## the service under faults (database crash, killed migration, provider trouble) and load, through its function URLs; one table
	CARGO=$(CARGO) scripts/soak.sh

build: ## deployable artifacts: sam build (cargo-lambda + zig, arm64) into .aws-sam/build
	scripts/build.sh

tools: ## install cargo-lambda, sam and cfn-lint into .tools/ (every target does this when needed)
	scripts/tools.sh
