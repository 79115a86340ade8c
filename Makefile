# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv and installs the project.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WS := .lstmprune-demo
OUT := $(WS)/audioset_lstm_pruned.keras
LITE := $(WS)/audioset_lstm_int8.tflite
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: demo test bench bench-quick lint sample clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,beam]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/lstmprune analyze sample_models/audioset_lstm.keras --data sample_models/calibration.tfrecord --workspace $(WS)
	$(BIN)/lstmprune prune --max-drop 1 --eval sample_models/valid.tfrecord --out $(OUT) --workspace $(WS) --force
	$(BIN)/lstmprune finetune --data sample_models/train.tfrecord --val sample_models/valid.tfrecord --epochs 3 --workspace $(WS) --force
	$(BIN)/lstmprune export --quantize int8 --drop-mask --out $(LITE) --workspace $(WS) --force
	$(BIN)/lstmprune report --eval sample_models/heldout.tfrecord --tflite-file $(LITE) --markdown $(WS)/report.md --workspace $(WS) --force


# Test files run on every core (pytest-xdist), each file's tests in one worker so its fixtures are built once.
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile

# The full suite (hours; each part's time is the last table of docs/benchmarks.md) writes docs/benchmarks.md; the quick one docs/quick/.
bench: $(STAMP)
	$(BIN)/python -m bench.run

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick


lint: $(STAMP)
	$(BIN)/ruff check lstmprune_cli tests scripts bench
	$(BIN)/ruff format --check lstmprune_cli tests scripts bench

sample: $(STAMP)
	$(BIN)/python scripts/build_sample.py

clean:
	rm -rf $(VENV) $(WS) .lstmprune
