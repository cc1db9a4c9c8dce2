# pmtiqa: set up, test and run the demo. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Always install with the constraints: an unpinned torch or torchvision pulls several GB of CUDA wheels.
PIP_INSTALL := $(PY) -m pip install --disable-pip-version-check -q -c constraints.txt

# The graph's commands (pmtiqa, dvc, snakemake) run from the environment.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: setup test test-cluster demo bench clean-venv

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e '.[dev]'
	@touch $@

# Every core at work (pytest-xdist): the slow tests start first, the quick ones fill in beside them.
test: setup
	$(PY) -m pytest -n auto

# The integration tests beyond one process (docs/cluster.md), as root: installs what is missing
# (Debian's SLURM, munge and PostgreSQL; the `cluster` extra), starts the services, runs
# tests/workflow/test_cluster.py (-rP prints what each test measured) and stops the services, pass or fail.
test-cluster: $(VENV)/.installed-cluster
	cluster/services.sh install
	cluster/services.sh start
	$(PY) -m pytest -m cluster -rP tests/workflow/test_cluster.py; status=$$?; cluster/services.sh stop; exit $$status

$(VENV)/.installed-cluster: $(VENV)/.installed
	$(PIP_INSTALL) -e '.[dev,cluster]'
	@touch $@

# The whole graph on the embedded synthetic dataset, selected as a DVC experiment (README). Where
# the workspace already selects it and every stage is up to date, nothing runs: `dvc exp run`
# would record one more experiment of the same results.
demo: setup
	@if $(PY) -c "import sys, yaml; sys.exit((yaml.safe_load(open('params.yaml')) or {}).get('datasets') != ['synthetic'])" 2>/dev/null \
	    && dvc status --quiet; then \
	  echo "make demo: every stage is up to date, no experiment recorded (reports/report.md, dvc exp show)"; \
	else dvc exp run -S 'datasets=[synthetic]'; fi

bench: setup
	$(PY) bench/bench_train.py

clean-venv:
	rm -rf $(VENV)
