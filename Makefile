# The two front-door commands: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The demo keeps its registry in .mlengine-demo (recreated on every run, so it can be re-run).
DEMO_HOME := $(CURDIR)/.mlengine-demo
DEMO_ENV := MLENGINE_HOME=$(DEMO_HOME) MLENGINE_DATABASE_URL= MLENGINE_ARTIFACT_ROOT=

demo: $(STAMP)
	rm -rf $(DEMO_HOME) models/census exports/census
	$(BIN)/python examples/census/wide_deep.py --model-type wide_deep --columns demo \
		--train-epochs 20 --epochs-between-evals 4 --batch-size 1024 \
		--model-dir models/census --export-dir exports/census
	$(DEMO_ENV) $(BIN)/mlengine models create census --description "Census income, Wide & Deep"
	$(DEMO_ENV) $(BIN)/mlengine versions create v1 --model census \
		--origin "$$(ls -d exports/census/[0-9]* | sort | tail -n 1)"
	$(DEMO_ENV) $(BIN)/mlengine versions list --model census
	$(DEMO_ENV) $(BIN)/mlengine predict --model census --json-instances examples/census/census.json

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/transform.py
	$(BIN)/python benchmarks/train_census.py
	$(BIN)/python benchmarks/batch_predict.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info
