# Two set-up commands: `make test` and `make demo`. Each creates .venv and installs the exact
# versions of constraints.txt (`make constraints` re-resolves pyproject.toml and rewrites it).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONSTRAINTS := constraints.txt
PIP_VERSION := 26.3

.PHONY: test demo lint format bench clean constraints extension-description slicer-manifest

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet pip==$(PIP_VERSION)
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[test,web]'
	touch $(STAMP)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

demo: $(STAMP)
	$(VENV)/bin/bonequality demo --out demo-output
	@echo "Report: demo-output/report.html"

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Re-resolve pyproject.toml's ranges in a throw-away venv and pin what it installs.
constraints:
	rm -rf .venv-constraints
	$(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/python -m pip install --quiet pip==$(PIP_VERSION)
	.venv-constraints/bin/python -m pip install --quiet -e '.[test,web]'
	(grep '^#' $(CONSTRAINTS); .venv-constraints/bin/python -m pip freeze --exclude-editable) > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf .venv-constraints

# SlicerBoneQuality.s4ext and SlicerBoneQuality.json from the metadata in CMakeLists.txt.
extension-description: $(STAMP)
	$(PY) Testing/slicer_api/describe.py

# Testing/slicer_api/manifest.json from Slicer's sources, e.g.
#   make slicer-manifest SLICER_SRC=~/src/Slicer CTK_SRC=~/src/CTK QT_INCLUDE=/usr/include/x86_64-linux-gnu/qt5
slicer-manifest: $(STAMP)
	$(PY) Testing/slicer_api/extract.py --slicer $(SLICER_SRC) --ctk $(CTK_SRC) --qt-include $(QT_INCLUDE) \
		--tags v5.8.1 v5.12.3

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache
