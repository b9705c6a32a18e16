# faultbox — two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
FB     := $(VENV)/bin/faultbox

.PHONY: install build servers demo test test-loaded lint format lima-build lima-run clean lab test-fm1 test-fm1-fix

# Create the virtualenv and install faultbox (editable) with its dev tools.
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

# The tutorial's demo services (bin/<name>, bin/linux/<name>) and the failure lab's (bin/lab-*).
build: install
	$(PY) demo/build.py
	$(PY) lab/build.py

# The failure lab (docs/failure-lab.md): every failure mode, every stage, then the index.
lab: build
	$(FB) lab run lab
	$(FB) lab index lab

# FM_001 reproduced: INV_001 violated, with the events that prove it.
test-fm1: build
	$(FB) lab run lab --fm FM_001 --stage baseline --stage reproduce

# FM_001 prevented by its guardrail, and its invariants restored after a crash/restart.
test-fm1-fix: build
	$(FB) lab run lab --fm FM_001 --stage prevent --stage recover

# Run the tutorial's chapter 4 happy path on the real demo services.
demo: build
	$(FB) test examples/ch04/traces-test.star --test happy_path

# The real servers the event-source tests use: PostgreSQL, Redis (apt), a Kafka-protocol broker.
servers: install
	sh tests/servers.sh $(PY)

# tests/containers.sh: a Docker engine (dockerd started if none answers, stopped at the end) and
# the locally built images of tests/containers (docs/containers.md); -rs prints skip reasons.
test: build servers
	trap 'sh tests/containers.sh down' EXIT; \
	sh tests/containers.sh up || echo "tests/containers.sh up failed: the container tests skip"; \
	$(PY) -m pytest -q -rs

# The suite with every core busy (tests/loaded.sh: one busy loop per core, started once the test
# lock is held, always killed): timing assumptions that only hold on an idle machine fail here.
# More pytest arguments: make test-loaded ARGS="tests/core -x".
test-loaded: build servers
	sh tests/loaded.sh $(PY) $(ARGS)

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
