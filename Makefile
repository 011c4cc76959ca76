# Caseload: the two Quick start commands are `make demo` and `make test`.
PYTHON   ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
ASSETS   := node_modules/.installed
CHROMIUM ?= /usr/bin/chromium

.PHONY: demo test lint typecheck pytest bench browser pango dist clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# govuk-frontend (pinned to the release govuk-frontend-jinja targets) and axe-core, from the npm
# registry, served by the portal itself: no CDN. Building the wheel (`make dist`, and the wheel
# test in `make test`) copies govuk-frontend's served files from here into the package.
$(ASSETS): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $(ASSETS)

# Browser tests drive Debian's chromium (never a browser download).
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else \
	    echo "Browser tests need Debian's chromium: run 'sudo apt-get install chromium' (or set CHROMIUM=/path)."; exit 1; \
	  fi; \
	fi

# The scrutiny report's PDF (WeasyPrint) lays text out with Debian's Pango.
pango:
	@if ! ldconfig -p | grep -q libpangoft2-1.0; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libpango-1.0-0 libpangoft2-1.0-0; \
	  else \
	    echo "The PDF report needs Pango: run 'sudo apt-get install libpango-1.0-0 libpangoft2-1.0-0'."; exit 1; \
	  fi; \
	fi

## demo: start the demo on the embedded defaults and print its address
demo: $(STAMP) $(ASSETS)
	$(BIN)/caseload demo

## test: install what the tests need, then lint, type-check and run every test
test: $(STAMP) $(ASSETS) browser pango
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/pytest

## dist: build the sdist and the wheel into dist/ (the wheel carries govuk-frontend's files)
dist: $(STAMP) $(ASSETS)
	$(BIN)/python -m build --no-isolation --outdir dist .

## bench: run the benchmarks (long; not part of `make test`)
bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) node_modules build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
