# Quick start: `make run` (venv + every package in editable mode + the demo), then `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PACKAGES := . opsets/onnx providers/cpu passes/standard plugins_example providers/bitnet \
            providers/gpu providers/wasm serving brain
# What only the tests need: torch's CPU wheel and Triton (the GPU kernels run in Triton's
# interpreter), tritonclient (a real KServe client against `ronn serve`), scikit-learn (the
# digits data of the brain benchmarks), and Debian's chromium
# (the web export's browser test; providers/wasm/ci-setup.sh installs it when missing).
TEST_EXTRAS := "providers/gpu[test]" "serving[test]" "brain[test]"
TEST_STAMP := $(VENV)/.ronn-test-extras
STAMP  := $(VENV)/.ronn-installed
DEMO_MODEL := examples/models/resnet50.onnx

.PHONY: run test install demo-model clean

install: $(STAMP)

$(STAMP): $(addsuffix /pyproject.toml,$(PACKAGES))
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

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet torch==2.13.0   # the CPU wheel; never the CUDA build
	$(BIN)/python -m pip install --quiet --no-build-isolation $(addprefix -e ,$(TEST_EXTRAS))
	sh providers/wasm/ci-setup.sh
	touch $(TEST_STAMP)

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) examples/models .pytest_cache .hypothesis
