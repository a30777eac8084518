# Quick start: `make run` (venv + every package in editable mode + the demo), then `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PACKAGES := . opsets/onnx providers/cpu passes/standard plugins_example
STAMP  := $(VENV)/.ronn-installed
DEMO_MODEL := examples/models/resnet50.onnx

.PHONY: run test install demo-model clean

install: $(STAMP)

$(STAMP): pyproject.toml opsets/onnx/pyproject.toml providers/cpu/pyproject.toml \
		passes/standard/pyproject.toml plugins_example/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet --no-build-isolation \
		-e ".[test]" $(addprefix -e ,$(filter-out .,$(PACKAGES)))
	touch $(STAMP)

$(DEMO_MODEL): $(STAMP)
	$(BIN)/python -m ronn.zoo resnet50 $(DEMO_MODEL) --seed 0

run: $(STAMP) $(DEMO_MODEL)
	$(BIN)/ronn plugins
	@echo
	$(BIN)/ronn run examples/resnet50.toml

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) examples/models .pytest_cache .hypothesis
