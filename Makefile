# needlechart: `make run` to try it, `make test` to check it. Needs only Python >= 3.11 and make;
# `make test` also Node >= 20.19 and npm, for the suite's FHIR validator.
PYTHON ?= python3
PORT ?= 8000
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
# The PostgreSQL server the suite also runs against when it answers.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/needlechart
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export UV_PYTHON_DOWNLOADS := never
# Compiled once at install, so that no command pays for compiling its imports.
export UV_COMPILE_BYTECODE := 1
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)

.PHONY: install validator run demo test test-sqlite test-postgres lint fmt chromium pdf-libraries bytecode bench clean

# uv, the installer that reads uv.lock, bootstrapped into its own small environment.
$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

# The project's own modules compiled ahead, so that no command compiles them at start-up
# (an environment may forbid Python to write its bytecode cache as it goes).
bytecode: $(VENV)/.installed
	$(BIN)/python -m compileall -q -j0 needlechart

# The independent FHIR R4 validator the suite runs (@medplum/core, on Node).
VALIDATOR := tests/fhir/validator
$(VALIDATOR)/node_modules/.package-lock.json: $(VALIDATOR)/package.json $(VALIDATOR)/package-lock.json
	cd $(VALIDATOR) && npm ci --no-audit --no-fund
	touch $@

install: $(VENV)/.installed bytecode pdf-libraries

validator: $(VALIDATOR)/node_modules/.package-lock.json

run: install
	@mkdir -p var
	DEBUG=$${DEBUG:-1} $(BIN)/needlechart migrate --noinput
	DEBUG=$${DEBUG:-1} $(BIN)/needlechart createcachetable
	DEBUG=$${DEBUG:-1} $(BIN)/needlechart demo --if-empty
	DEBUG=$${DEBUG:-1} $(BIN)/needlechart runserver 127.0.0.1:$(PORT)

demo: install
	@mkdir -p var
	DEBUG=$${DEBUG:-1} $(BIN)/needlechart migrate --noinput
	DEBUG=$${DEBUG:-1} $(BIN)/needlechart createcachetable
	DEBUG=$${DEBUG:-1} $(BIN)/needlechart demo

# Playwright drives Debian's Chromium; its own browser download does not work offline.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Chromium from Debian packages for the browser tests"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# WeasyPrint (the PDF documents) draws its text with Pango and HarfBuzz from the system, and
# needs a font to draw with; Debian's chromium brings them, a bare machine may not.
PDF_LIBRARIES := libpango-1.0.so.0 libpangoft2-1.0.so.0 libharfbuzz-subset.so.0
pdf-libraries:
	@missing=""; for lib in $(PDF_LIBRARIES); do \
		/sbin/ldconfig -p 2>/dev/null | grep -q "$$lib" || missing=yes; done; \
	command -v fc-list >/dev/null 2>&1 && [ -n "$$(fc-list 2>/dev/null)" ] || missing=yes; \
	[ -z "$$missing" ] || { \
		echo "Installing Pango, HarfBuzz and a font from Debian packages for the PDF documents"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig fonts-dejavu-core \
			>/dev/null; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/needlechart makemigrations --check --dry-run

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test-sqlite: install chromium validator
	$(BIN)/pytest

test-postgres: install chromium validator
	@if $(BIN)/python -c "import psycopg, sys; psycopg.connect(sys.argv[1], dbname='postgres', connect_timeout=3).close()" "$(TEST_DATABASE_URL)" 2>/dev/null; then \
		echo "Running the suite on PostgreSQL"; \
		DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest; \
	else \
		echo "PostgreSQL does not answer at $(TEST_DATABASE_URL): suite skipped there"; \
	fi

test: lint test-sqlite test-postgres

# Timings, each beside a baseline measured in the same run (not part of the tests);
# benchmarks/README.md says how to read them. The large demo clinics are built once and kept
# under var/benchmarks/.
bench: install chromium
	$(BIN)/python benchmarks/history.py
	$(BIN)/python benchmarks/demo.py
	$(BIN)/python benchmarks/dashboard.py
	$(BIN)/python benchmarks/export.py
	$(BIN)/python benchmarks/fhir_export.py
	$(BIN)/python benchmarks/documents.py
	$(BIN)/python benchmarks/load.py
	$(BIN)/python benchmarks/pages.py
	$(BIN)/python benchmarks/charting_flow.py
	$(BIN)/python benchmarks/knowledge.py

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache staticfiles $(VALIDATOR)/node_modules
