# The two commands of the README, and the rest. Every target installs what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo

.PHONY: help test bench

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

test: ## run every test (starts its own PostgreSQL; installs Debian's postgresql if missing)
	$(CARGO) test --workspace --locked --no-fail-fast

bench: ## write-path benchmark: throughput, p50/p99, round trips, against pgbench replaying the same SQL
	$(CARGO) bench -p shared --bench record --locked
