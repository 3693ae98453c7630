# Quick start: `make demo`, then `make test`. Both create .venv and install into it.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# The development environment pins torch (the CPU build installs from the local
# package cache in about a minute; an unpinned torch pulls a CUDA build of several GB).
TORCH  ?= torch==2.13.0

.PHONY: demo test venv bench clean browser

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

# The HTML report's test opens it in headless Chromium (tests/test_html.py): Debian's
# chromium and chromium-driver, installed here when missing and apt-get can (as root).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
	     >/dev/null) || echo "make: chromium not installed: the browser test will be skipped (fails under CI)"; }

test: venv $(VENV)/.installed-frameworks browser
	$(BIN)/python -m pytest -q

bench: venv
	$(BIN)/python benchmarks/seed_examples.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
