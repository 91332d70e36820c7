# The two commands a new user runs: `make demo` and `make test`.
# Everything else here serves those two, or the benchmarks run by hand.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench bench-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

PLUGINS := plugins/dropbox_provider plugins/onedrive_provider
TARGETS := packaging/rumprun packaging/docker

# Reinstall when the project metadata changes. The provider plugins and the
# edgesync-pack targets are separate distributions, installed beside the core
# for their tests.
# The docker target's test extra brings the offline linters and validators.
$(STAMP): $(BIN)/python pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS) $(TARGETS))
	$(BIN)/python -m pip install --quiet -e '.[test,bench]' $(addprefix -e ,$(PLUGINS)) \
	    -e packaging/rumprun -e 'packaging/docker[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m edgesync.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Peers measured by benchmarks/delta_bench.py, from Debian's packages.
bench-deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	    xdelta3 zstd rdiff gzip

# Usage: make bench CORPUS=~/corpus
bench: $(STAMP)
	$(BIN)/python benchmarks/delta_bench.py $(CORPUS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .hypothesis
