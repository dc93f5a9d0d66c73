# wirewatch — the commands the README promises. Everything installs from nothing into .venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint unit integration fault bench clean kafka-start kafka-stop

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: the embedded pipeline over seeds/, printing its alerts
run: $(STAMP)
	$(BIN)/wirewatch run seeds/

## lint: ruff and mypy --strict on the packages
lint: $(STAMP)
	$(BIN)/ruff check schemas streams alerts tests bench
	$(BIN)/mypy

## test: lint, then the whole suite; starts a local Kafka broker unless KAFKA_BOOTSTRAP is set
test: lint
ifdef KAFKA_BOOTSTRAP
	$(BIN)/python -m pytest
else
	scripts/kafka-local run -- $(BIN)/python -m pytest
endif

## unit: the tests that need no broker
unit: $(STAMP)
	$(BIN)/python -m pytest -m "not integration and not fault"

## bench: the benchmark table (bench/)
bench: $(STAMP)
ifdef KAFKA_BOOTSTRAP
	$(BIN)/python -m bench
else
	scripts/kafka-local run -- $(BIN)/python -m bench
endif

kafka-start:
	scripts/kafka-local start

kafka-stop:
	scripts/kafka-local stop

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
