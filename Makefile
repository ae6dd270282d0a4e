# Build and test entry points for the mcpgate.gravitee collection. CI runs `make test` (.ci/run).
# Every tool comes from the project's virtual environment (.venv), called by path: nothing relies
# on an activated environment. Each recipe line is echoed; the first failing command stops the run.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
# `make test` runs its steps in the order listed, even under `make -j`.
.NOTPARALLEL:
MAKEFLAGS += --no-builtin-rules

COLLECTION_NAMESPACE := mcpgate
COLLECTION_NAME := gravitee

# Interpreter used to create .venv (Python 3.11 is the project's version, see DESIGN.md section 7).
PYTHON ?= python3.11
PYTHON_VERSION := 3.11

VENV := $(CURDIR)/.venv
VENV_BIN := $(VENV)/bin
VENV_STAMP := $(VENV)/.stamp
# Tools started by the tools themselves (ansible-playbook, ansible-galaxy) come from .venv too.
VENV_PATH := $(VENV_BIN):$$PATH

CACHE_DIR := $(CURDIR)/.cache

# Scratch space outside this work tree, one folder per clone (named after the clone's path).
WORK_TMP := $(or $(TMPDIR),/tmp)/$(COLLECTION_NAMESPACE)-$(COLLECTION_NAME)-$(shell printf '%s' '$(CURDIR)' | cksum | cut -d' ' -f1)

# ansible-lint runs offline (.ansible-lint), so it does not install this collection; a symlink
# .../ansible_collections/mcpgate/gravitee -> this tree lets playbooks and roles resolve the
# collection's own names. It lives outside the tree so no tool walks into a loop.
LINT_COLLECTIONS := $(WORK_TMP)/collections
LINT_COLLECTION_LINK := $(LINT_COLLECTIONS)/ansible_collections/$(COLLECTION_NAMESPACE)/$(COLLECTION_NAME)

# ansible-test needs the collection at .../ansible_collections/<namespace>/<name>/ and lists files
# with git when it finds a .git in any parent folder, so the copy lives outside this work tree.
# Wiped at the start of each sanity run and left afterwards so its tests/output/ can be read.
SANITY_ROOT := $(WORK_TMP)/sanity
SANITY_COLLECTION := $(SANITY_ROOT)/ansible_collections/$(COLLECTION_NAMESPACE)/$(COLLECTION_NAME)
# ansible-test keeps its per-test virtual environments and its get-pip cache under ~/.ansible/test;
# HOME points here for that run so nothing lands in the user's home and CI starts from a clean cache.
ANSIBLE_TEST_HOME := $(CACHE_DIR)/ansible-test-home
ANSIBLE_TEST_CACHE := $(ANSIBLE_TEST_HOME)/.ansible/test/cache
# Files copied for sanity: tracked plus untracked-but-not-ignored, without local state.
SANITY_PATHSPEC := . ':!:.venv' ':!:.cache' ':!:tests/output' ':!:.ansible' ':!:collections'
# Extra ansible-test arguments, e.g. `make sanity SANITY_ARGS='--test pylint'`.
# No sanity test is skipped: `--docker` is impossible here (no container engine), which `--venv`
# replaces; pslint (PowerShell) and shellcheck report "No tests applicable" while the collection
# has no .ps1/.psm1/.sh files.
SANITY_ARGS ?=

MOLECULE_SCENARIOS := $(wildcard extensions/molecule/*/molecule.yml)

.PHONY: help venv lint sanity sanity-run unit integration molecule test sim demo docs clean

help:
	@echo 'Targets:'
	@echo '  venv         create .venv ($(PYTHON)) from requirements-dev.txt (again when requirements change)'
	@echo '  lint         ansible-lint --profile production, antsibull-changelog lint'
	@echo '  sanity       ansible-test sanity --venv on a copy under $(SANITY_COLLECTION)'
	@echo '  unit         pytest tests/unit'
	@echo '  integration  pytest tests/integration'
	@echo '  reliability-tests  tests/reliability: chosen faults, retries, concurrency, secrets, TLS, bad input (in test)'
	@echo '  reliability  the same with the full fault matrix (every write x every kind), then docs/reliability.md'
	@echo '  molecule     molecule test in extensions/ (skipped while no scenario exists)'
	@echo '  test         venv, lint, sanity, unit, integration, reliability-tests, molecule (what CI runs)'
	@echo '  sim          run the Gravitee simulator in the foreground'
	@echo '  demo         the role against the simulator, then a real MCP client (DEMO_ARGS=--free-ports)'
	@echo '  bench        the role against the simulator: requests and time vs the floor and a uri baseline (not in test)'
	@echo '  real-artifacts  lay out the pinned real AM/APIM artifacts into .cache/real with Maven (tests/real/maven)'
	@echo '  test-real    pytest tests/real against real AM 4.10.20 and OSS APIM 4.10.9 on PostgreSQL 15 (not in test)'
	@echo '  test-matrix  unit, role, check mode, demo (and sanity on the oldest and newest) on ansible-core 2.16 to 2.21'
	@echo '  matrix-lock  regenerate tests/matrix/requirements-<core>.txt from tests/matrix/requirements.in'
	@echo '  docs         regenerate docs/collection/ (antsibull-docs), CHANGELOG.md (antsibull-changelog), extensions/awx/surveys/'
	@echo '  clean        remove .venv, caches and test output'

venv: $(VENV_STAMP)

$(VENV_STAMP): requirements-dev.txt requirements.txt
	rm -rf '$(VENV)'
	$(PYTHON) -c 'import sys; v = "%d.%d" % sys.version_info[:2]; sys.exit(0 if v == "$(PYTHON_VERSION)" else "$(PYTHON) is Python " + v + ", need $(PYTHON_VERSION)")'
	$(PYTHON) -m venv '$(VENV)'
	'$(VENV_BIN)/python' -m pip install --disable-pip-version-check -r requirements-dev.txt -r requirements.txt
	touch '$@'

lint: venv
	mkdir -p '$(dir $(LINT_COLLECTION_LINK))'
	ln -sfn '$(CURDIR)' '$(LINT_COLLECTION_LINK)'
	PATH="$(VENV_PATH)" ANSIBLE_COLLECTIONS_PATH='$(LINT_COLLECTIONS)' '$(VENV_BIN)/ansible-lint' --profile production
	'$(VENV_BIN)/antsibull-changelog' lint
	'$(VENV_BIN)/antsibull-changelog' lint-changelog-yaml changelogs/changelog.yaml

# Runs of `make sanity` in one clone share the copy and ansible-test's cached environments, so they
# take turns (flock); the steps themselves are in sanity-run.
sanity: venv
	mkdir -p '$(CACHE_DIR)'
	flock --verbose '$(CACHE_DIR)/sanity.lock' $(MAKE) --no-print-directory sanity-run SANITY_ARGS='$(SANITY_ARGS)'

# Internal: the sanity steps, run by `make sanity` while it holds the lock.
sanity-run:
	rm -rf '$(SANITY_ROOT)'
	mkdir -p '$(SANITY_COLLECTION)' '$(ANSIBLE_TEST_CACHE)'
	git ls-files -z --cached --others --exclude-standard -- $(SANITY_PATHSPEC) \
		| tar --null --ignore-failed-read --files-from=- --create --file=- \
		| tar --extract --file=- --directory='$(SANITY_COLLECTION)'
	# ansible-test would download get-pip from a host these machines cannot reach; it uses a cached
	# script named after the pip version it wants instead: tests/tools/get_pip.py stands in for it.
	pip_version="$$('$(VENV_BIN)/python' -c 'import types; from ansible_test._internal.python_requirements import get_venv_packages; print(get_venv_packages(types.SimpleNamespace(version="$(PYTHON_VERSION)"))["pip"])')" \
		&& install -m 0644 tests/tools/get_pip.py "$(ANSIBLE_TEST_CACHE)/get_pip_$${pip_version//./_}.py"
	cd '$(SANITY_COLLECTION)' && HOME='$(ANSIBLE_TEST_HOME)' '$(VENV_BIN)/ansible-test' sanity --venv --python $(PYTHON_VERSION) $(SANITY_ARGS)

unit: venv
	PATH="$(VENV_PATH)" '$(VENV_BIN)/pytest' tests/unit

# Three workers on two CPUs: the tests spend much of their time waiting on ansible-playbook and the simulators.
integration: venv
	PATH="$(VENV_PATH)" '$(VENV_BIN)/pytest' -rs -n 3 tests/integration

# Reliability and security (tests/reliability, profile 4.12). In `make test`: chosen fault cases (every kind, every
# method, both servers), retries, concurrency, secrets, TLS and bad input; `make reliability` runs every fault kind
# on every write of the role and renders the records as docs/reliability.md.
RELIABILITY_RESULTS := $(WORK_TMP)/reliability

.PHONY: reliability-tests reliability
reliability-tests: venv
	rm -rf '$(RELIABILITY_RESULTS)-ci'
	PATH="$(VENV_PATH)" MCPGATE_RELIABILITY_RESULTS='$(RELIABILITY_RESULTS)-ci' '$(VENV_BIN)/pytest' -n 2 tests/reliability
	'$(VENV_BIN)/python' -m tests.reliability.render '$(RELIABILITY_RESULTS)-ci' '$(RELIABILITY_RESULTS)-ci/reliability.md' 'make test subset'

# The report is written even when a test fails (its failures are listed in it); the target then fails.
reliability: venv
	rm -rf '$(RELIABILITY_RESULTS)'
	PATH="$(VENV_PATH)" MCPGATE_RELIABILITY=full MCPGATE_RELIABILITY_RESULTS='$(RELIABILITY_RESULTS)' '$(VENV_BIN)/pytest' -n 2 tests/reliability \
		|| { '$(VENV_BIN)/python' -m tests.reliability.render '$(RELIABILITY_RESULTS)' docs/reliability.md; exit 1; }
	'$(VENV_BIN)/python' -m tests.reliability.render '$(RELIABILITY_RESULTS)' docs/reliability.md

# The role's molecule scenario(s) (DESIGN.md section 6), against the simulator on free ports. The
# collection resolves as mcpgate.gravitee through the same symlink as for lint; molecule's working
# files (the simulator's pid, log and ports) live under $(WORK_TMP)/molecule, one folder per clone,
# and runs in one clone take turns (flock), as they share that folder.
MOLECULE_EPHEMERAL := $(WORK_TMP)/molecule

molecule: venv
ifeq ($(strip $(MOLECULE_SCENARIOS)),)
	@echo 'molecule: skipped, no extensions/molecule/*/molecule.yml yet'
else
	mkdir -p '$(dir $(LINT_COLLECTION_LINK))' '$(CACHE_DIR)'
	ln -sfn '$(CURDIR)' '$(LINT_COLLECTION_LINK)'
	cd extensions && PATH="$(VENV_PATH)" ANSIBLE_COLLECTIONS_PATH='$(LINT_COLLECTIONS)' \
		MOLECULE_EPHEMERAL_DIRECTORY='$(MOLECULE_EPHEMERAL)' \
		flock --verbose '$(CACHE_DIR)/molecule.lock' '$(VENV_BIN)/molecule' test --all
endif

test: venv lint sanity unit integration reliability-tests molecule

sim: venv
	'$(VENV_BIN)/python' -m tests.simulator

# The guide end to end on this machine (tests/demo/run_demo.py): the simulator in the background on
# its default ports 8082, 8083, 8092, 8093 and 3001 (DEMO_ARGS=--free-ports for free ones), then
# playbooks/secure_mcp.yml twice, then a real MCP client through the gateway; the simulator is stopped
# at the end, also on failure or Ctrl-C.
DEMO_ARGS ?=

demo: venv
	'$(VENV_BIN)/python' -m tests.demo.run_demo $(DEMO_ARGS)

# Generated documentation (tests/tools/render_docs.py): the module and role pages in docs/collection/
# and CHANGELOG.md (the pending fragments as the version in galaxy.yml until it is released); and the AWX
# surveys in extensions/awx/surveys/ from the role's argument specs (tests/tools/render_awx.py). The
# integration tests (tests/integration/test_docs.py, test_awx_runner.py) fail while one differs from its sources.
docs: venv
	'$(VENV_BIN)/python' -m tests.tools.render_awx
	'$(VENV_BIN)/python' -m tests.tools.render_docs

# Performance (tests/bench/run_bench.py, ~8 minutes, not part of `make test`): the role's first converge and
# no-op run, 1/10/50 MCP servers, the request floor, Ansible's own cost and a hand-written uri baseline,
# against the simulator on free ports. Prints a table; writes tests/bench/results.json.
BENCH_ARGS ?=

.PHONY: bench
bench: venv
	PATH="$(VENV_PATH)" '$(VENV_BIN)/python' -m tests.bench.run_bench $(BENCH_ARGS)

# The real tier (tests/real/README.md): real Gravitee AM 4.10.20 and open-source APIM 4.10.9 on loopback, PostgreSQL 15
# from Debian, Temurin 25; our poms lay out their artifacts into .cache/real (kept between runs) from the tier's Maven
# repository .cache/real/m2 (where a session installs what it built from Gravitee's source) and Maven Central.
# A product whose artifacts Central does not serve is not started; its tests are skipped with Maven's own words.
# REAL_ARGS: extra pytest arguments. MCPGATE_REAL_SERVERS=<state.json> reuses servers started with
# `python -m tests.real.servers --state <state.json>`.
REAL_ARGS ?=

.PHONY: real-artifacts test-real
real-artifacts: venv
	'$(VENV_BIN)/python' -m tests.real.artifacts

test-real: venv real-artifacts
	PATH="$(VENV_PATH)" '$(VENV_BIN)/pytest' -rsx tests/real $(REAL_ARGS)

# Every supported ansible-core, 2.16 to 2.21 (tests/matrix/run_matrix.py; about 9.5 CPU-minutes once the environments
# exist, 13 minutes of wall time on a busy 2-CPU machine, 3 more the first time): for each, a
# virtual environment under .cache/matrix/ on a Python that core supports (tests/matrix/cells.py says which, and how it
# is found), from tests/matrix/requirements-<core>.txt, made again when that file changes; in it the unit tests, the
# role twice and in check mode against the simulator, the demo's MCP client, and ansible-test sanity on 2.16 and 2.21.
# Two cells at once. A cell whose Python the machine lacks is reported "not runnable" and fails the target unless
# MATRIX_ALLOW_NOT_RUNNABLE=1. Prints a table; writes .cache/matrix/results.json. MATRIX_ARGS='--cores 2.16 --checks
# unit,role' runs a part. The runner needs only the standard library: it runs on $(PYTHON), without .venv.
MATRIX_ARGS ?=
MATRIX_ALLOW_NOT_RUNNABLE ?=

.PHONY: test-matrix matrix-lock
test-matrix:
	MATRIX_ALLOW_NOT_RUNNABLE='$(MATRIX_ALLOW_NOT_RUNNABLE)' $(PYTHON) -m tests.matrix.run_matrix --work-tmp '$(WORK_TMP)/matrix' $(MATRIX_ARGS)

# Deliberately, like requirements-dev.txt: resolves tests/matrix/requirements.in plus each cell's ansible-core pin with
# the cell's own Python, and says when a newer patch of a core is out (MATRIX_LOCK_ARGS='--cores 2.21' for one).
MATRIX_LOCK_ARGS ?=

matrix-lock:
	$(PYTHON) -m tests.matrix.lock $(MATRIX_LOCK_ARGS)

clean:
	rm -rf '$(VENV)' '$(CACHE_DIR)' '$(WORK_TMP)' tests/output .ansible .pytest_cache
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
