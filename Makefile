# faultbox — two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
FB     := $(VENV)/bin/faultbox

.PHONY: install build servers demo test lint format lima-build lima-run clean

# Create the virtualenv and install faultbox (editable) with its dev tools.
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

# The tutorial's demo services, installed at bin/<name> and bin/linux/<name>.
build: install
	$(PY) demo/build.py

# Run the tutorial's chapter 4 happy path on the real demo services.
demo: build
	$(FB) test examples/ch04/traces-test.star --test happy_path

# The real servers the event-source tests use: PostgreSQL, Redis (apt), a Kafka-protocol broker.
servers: install
	sh tests/servers.sh $(PY)

test: build servers
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# macOS: run faultbox inside a Lima VM (see lima.yaml; untested on these machines).
LIMA_VM ?= faultbox
lima-build:
	limactl start --name=$(LIMA_VM) --tty=false lima.yaml || limactl start $(LIMA_VM)
	limactl shell $(LIMA_VM) -- make -C "$(CURDIR)" build

lima-run:
	limactl shell $(LIMA_VM) -- bash -lc 'cd "$(CURDIR)" && . $(VENV)/bin/activate && $(CMD)'

clean:
	rm -rf $(VENV) bin build *.egg-info .pytest_cache .ruff_cache
