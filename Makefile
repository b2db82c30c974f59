# mcfarm — every set-up step lives here, so a fresh machine needs only `make run` / `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

##@ Everyday

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

.PHONY: run
run: install ## Start the all-in-one farm (redis, CPU worker, API, Flower) in the foreground
	$(BIN)/mcfarm up

.PHONY: test
test: install test-deps ## Run the whole suite: unit and end-to-end
	$(BIN)/pytest

.PHONY: test-unit
test-unit: install ## Run only the fast unit tests
	$(BIN)/pytest tests/unit

.PHONY: test-e2e
test-e2e: install test-deps ## Run only the end-to-end tests (real redis, SeaweedFS, Celery, FFmpeg, Chromium)
	$(BIN)/pytest tests/e2e

.PHONY: lint
lint: install ## Lint and check formatting with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

.PHONY: format
format: install ## Reformat the code with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

##@ Benchmarks

.PHONY: bench
bench: bench-scale bench-flood bench-boost bench-api ## Run every benchmark

.PHONY: bench-scale
bench-scale: install ## Benchmark: the same jobs with 1 and 2 worker processes (jobs/min and speed-up)
	$(BIN)/python -m bench.scale

.PHONY: bench-boost
bench-boost: install ## Benchmark: one long output on 1 worker (Standard) and in chunks on every core (Boost)
	$(BIN)/python -m bench.boost

.PHONY: soak
soak: install ## Soak: 50 jobs while workers are SIGKILLed every 10 s and Redis restarts; nothing lost
	$(BIN)/python -m bench.soak

.PHONY: bench-api
bench-api: install ## Benchmark: submit, Get and List with wrk over 100,000 stored jobs (req/s, p50/p99, bytes per job)
	@$(call apt_tools,wrk:wrk)
	$(BIN)/python -m bench.api

.PHONY: bench-flood
bench-flood: install ## Benchmark: good ICE calls alone and under a flood of forged signatures (fails above 2x)
	$(BIN)/python -m bench.flood

##@ Set-up

.PHONY: install
install: system-deps $(STAMP) ## Create .venv and install mcfarm with its dev extras

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "mcfarm needs Python >= 3.11; set PYTHON=/path/to/python3.11"; exit 1; }
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { $(MAKE) --no-print-directory apt-python-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

.PHONY: system-deps
system-deps: ## Install FFmpeg, redis-server, iproute2 (ip, for the node tests) and the watermark fonts with apt-get when missing (as root)
	@$(call apt_tools,ffmpeg:ffmpeg ffprobe:ffmpeg redis-server:redis-server ip:iproute2 $(FONTS))

.PHONY: test-deps
test-deps: install ## Also Chromium for the playback and console tests, promtool for the metrics tests
	@$(call apt_tools,chromium:chromium promtool:prometheus)

.PHONY: vendor-js
vendor-js: install ## Refresh the console's vendored hls.js, dash.js and mpegts.js from npm (api/console/vendor.py)
	@$(call apt_tools,npm:npm)
	$(BIN)/python -m api.console.vendor

# Text watermark fonts (shared/fonts.py): CJK (WenQuanYi Micro Hei) and Arial/Times/Courier stand-ins.
FONTS := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc:fonts-wqy-microhei \
	/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf:fonts-liberation

# $(call apt_tools,tool:package …): apt-get install the packages of the tools not on PATH
# (a tool given as an absolute path is a file that must exist, e.g. a font).
define apt_tools
missing=""; for pair in $(1); do tool=$${pair%%:*}; pkg=$${pair#*:}; \
	case $$tool in /*) test -e $$tool;; *) command -v $$tool >/dev/null 2>&1;; esac \
	|| missing="$$missing $$pkg"; done; \
if [ -n "$$missing" ]; then \
	if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
		echo "missing:$$missing — install them first, e.g. 'sudo apt-get install$$missing'"; exit 1; \
	fi; \
fi
endef

.PHONY: apt-python-venv
apt-python-venv:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; \
	else echo "python venv support is missing — install it, e.g. 'sudo apt-get install python3-venv'"; exit 1; fi

.PHONY: clean
clean: ## Remove the virtual environment and local state (./var)
	rm -rf $(VENV) var .pytest_cache
