# Two commands do everything on a fresh machine:  make run  (set up + run the pipeline locally)  and  make test.
# The virtual environment lives in .venv and is reused while pyproject.toml is unchanged.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch, pinned, so that no CUDA wheels are pulled. Outside an environment whose pip
# already resolves torch==2.13.0 to the CPU build, use:  make TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_VERSION ?= 2.13.0
TORCH_PIP_ARGS ?=
RUN_ARGS ?=
PYTEST_ARGS ?=

.PHONY: setup run test test-unit test-containers lint compile clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION) $(TORCH_PIP_ARGS)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(BIN)/.installed

run: setup
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python pipeline.py run-local $(RUN_ARGS)

test: setup
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

# The seconds-long loop: tests/unit without the tests marked slow (tiny trainings, whole pipelines).
test-unit: setup
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest tests/unit -m "not slow" $(PYTEST_ARGS)

# The container tier: builds the base and both images, runs the pipeline in them. Needs a Docker engine
# (started privately when none answers: root + docker.io) and mmdebstrap. See README.
test-containers: setup
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest -m containers $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

compile: setup
	$(BIN)/python pipeline.py compile
	$(BIN)/python pipeline.py compile --target vertex

clean:
	rm -rf local_outputs model_registry .pytest_cache
