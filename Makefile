# wirewatch — the commands the README promises. Everything installs from nothing into .venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# COMPILE=0: run the stage modules interpreted (scripts/compile_stages.py says why they are compiled)
COMPILE ?= 1
BUILT  := $(VENV)/.compiled-$(COMPILE)
SOURCES := $(wildcard schemas/*.py streams/*.py alerts/*.py)

.PHONY: install run test lint unit bench clean kafka-start kafka-stop

install: $(BUILT)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The compiled modules rely on the types of every package module: any change rebuilds them.
$(BUILT): $(STAMP) $(SOURCES) scripts/compile_stages.py
	rm -f $(VENV)/.compiled-*
ifeq ($(COMPILE),0)
	$(BIN)/python scripts/compile_stages.py --remove
else
	$(BIN)/python scripts/compile_stages.py
endif
	touch $@

## run: the embedded pipeline over seeds/, printing its alerts
run: $(BUILT)
	$(BIN)/wirewatch run seeds/

## lint: ruff and mypy --strict on the packages
lint: $(STAMP)
	$(BIN)/ruff check schemas streams alerts tests bench
	$(BIN)/mypy

## test: lint, then the whole suite; starts a local Kafka broker unless KAFKA_BOOTSTRAP is set
test: lint $(BUILT)
ifdef KAFKA_BOOTSTRAP
	$(BIN)/python -m pytest
else
	scripts/kafka-local run -- $(BIN)/python -m pytest
endif

## unit: the tests that need no broker
unit: $(BUILT)
	$(BIN)/python -m pytest -m "not integration and not fault"

## bench: the benchmark table (bench/)
bench: $(BUILT)
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
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info build streams/*.so
