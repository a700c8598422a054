# unpact-exp: `make run` (the main job) and `make test` (the fast suite) are all a user needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test test-all lint format clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first, pinned: an unpinned torch would pull a multi-GB CUDA build on a CPU box.
# A GPU user with their own torch in the venv keeps it (the pyproject range accepts it).
$(STAMP): pyproject.toml | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the package with dev tools (idempotent)

RUN_DIR ?= multirun/paper_grid-$(shell date +%Y-%m-%d_%H-%M-%S)

run: install ## the main job: build the tiny target if absent, run the paper grid, report
	@# The report is written even when a job failed (it lists it); the exit status is the sweep's.
	$(PY) train.py -m experiment=paper_grid_tiny hydra.sweep.dir=$(RUN_DIR); status=$$?; \
	$(PY) report.py $(RUN_DIR) && \
	echo "table and plots: $(RUN_DIR)/report/ (report.md, report.csv, dilemma.png, ...)"; \
	exit $$status

test: install ## the fast test suite (CPU, offline)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=offline $(PY) -m pytest -q

test-all: install ## every test, slow ones included
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=offline $(PY) -m pytest -q -m "not gpu"

lint: install ## ruff check + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean: ## remove run outputs, built artifacts and caches (keeps .venv)
	rm -rf outputs multirun artifacts wandb .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -exec rm -rf {} +
