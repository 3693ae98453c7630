# Quick start: `make demo`, then `make test`. Both create .venv and install into it.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# The development environment pins torch (the CPU build installs from the local
# package cache in about a minute; an unpinned torch pulls a CUDA build of several GB).
TORCH  ?= torch==2.13.0

.PHONY: demo test venv bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

# The integration tests need Lightning and transformers (tests/test_integrations.py):
# only `make test` installs them, so `make demo` stays quick. The torch pin is repeated
# so that pip never swaps the installed torch for another build.
$(VENV)/.installed-frameworks: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH)" -e ".[dev,lightning,hf]"
	touch $@

demo: venv
	$(BIN)/torchdoctor demo

test: venv $(VENV)/.installed-frameworks
	$(BIN)/python -m pytest -q

bench: venv
	$(BIN)/python benchmarks/seed_examples.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
