# Two set-up commands (see README): `make build` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: build test browser conformance benchmark schema clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## build: validate the store, run the analyses, check the claims, build the report
build: $(STAMP)
	$(BIN)/research build

## test: the whole test suite (CI runs this)
test: $(STAMP) browser
	SIGHTLINE_REQUIRE_BROWSER=1 $(BIN)/pytest

## browser: Debian's Chromium, for the test that opens the report in a real browser
browser:
	@command -v chromium >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

## conformance: regenerate metafor reference values (needs R with metafor and metadat)
conformance:
	Rscript conformance/metafor_reference.R tests/reference

## benchmark: speed comparisons (prints ratios), scale of the store, coverage of the local-series defaults
benchmark: $(STAMP)
	$(BIN)/python benchmarks/bench_reml.py
	$(BIN)/python benchmarks/bench_bayes.py
	$(BIN)/python benchmarks/bench_build.py
	$(BIN)/python benchmarks/bench_validate.py
	$(BIN)/python benchmarks/bench_scale.py
	$(BIN)/python benchmarks/bench_local_coverage.py

schema: $(STAMP)
	$(BIN)/research schema

clean:
	rm -rf $(VENV) .pytest_cache .cache
