# Two commands do everything on a fresh machine with Python 3.11+ and make:
#   make reproduce   set up, validate the data, compute, write figures/, execute notebooks
#   make test        set up, then run the whole test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
export PYTHONHASHSEED := 0

.PHONY: install reproduce test validate bench lab lock references clean

$(PY):
	@echo "creating $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)

# Pinned versions (requirements.lock) first, then the project itself without
# re-resolving, so every machine gets the same versions.
$(STAMP): $(PY) pyproject.toml requirements.lock
	@echo "installing pinned packages into $(VENV) (about a minute the first time) ..."
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	@touch $(STAMP)

install: $(STAMP)

validate: install
	$(PY) -m analysis validate data

# Remakes only the figures and notebooks whose inputs changed; FORCE=1 remakes them all.
reproduce: install
	MPLBACKEND=Agg $(PY) -m analysis reproduce $(if $(FORCE),--force)

# The suite runs on both cores (pytest-xdist); the notebook tests share one worker.
test: install
	MPLBACKEND=Agg $(PY) -m pytest -n auto --dist loadgroup

bench: install
	$(PY) benchmarks/bench_pooling.py
	$(PY) benchmarks/bench_cli.py
	$(PY) benchmarks/bench_explorers.py
	$(PY) benchmarks/bench_multiverse.py
	$(PY) benchmarks/bench_validate.py
	$(PY) benchmarks/bench_build.py --tests

# Regenerate the reference JSON in tests/reference/ with R (needs R with metafor and
# jsonlite: Debian's r-cran-metafor and r-cran-jsonlite). Not part of reproduce or test.
references:
	Rscript tests/reference/metafor_pooling.R
	Rscript tests/reference/metafor_escalc.R
	Rscript tests/reference/metafor_trials.R
	Rscript tests/reference/catchup_reference.R
	Rscript tests/reference/grade_reference.R
	Rscript tests/reference/teaching_reference.R
	Rscript tests/reference/metafor_multiverse.R
	Rscript tests/reference/metafor_control.R

# JupyterLab chooses its own (inline) backend, so figures show as images.
lab: install
	env -u MPLBACKEND $(PY) -m jupyter lab notebooks/

# Regenerate the lock file from the newest versions the registry offers.
lock:
	rm -rf build/lock-venv
	$(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/pip install --quiet --disable-pip-version-check --upgrade -e '.[test]' setuptools
	build/lock-venv/bin/pip freeze --exclude-editable --all | grep -v '^pip==' > requirements.lock
	rm -rf build/lock-venv

clean:
	rm -rf $(VENV) build
