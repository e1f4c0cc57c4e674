# aiportal: `make up` runs the single-machine portal, `make test` runs every test.
# Everything is installed by these targets; built artefacts that are slow to make
# (the MinIO binary, the base rootfs, images, the Kubernetes binaries) are cached in $(AIPORTAL_CACHE).

PYTHON ?= python3
VENV := .venv
VENDOR := portal/static/vendor
UPLOT := node_modules/uplot
DATA_DIR ?= data
PORT ?=
CONFIG ?=
export AIPORTAL_CACHE ?= $(HOME)/.cache/aiportal
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# pytest-xdist workers: most tests wait on processes (hub, Podman, browsers), so two share the CPUs well
TEST_WORKERS ?= 2

UP_ARGS := --data-dir $(DATA_DIR) $(if $(PORT),--port $(PORT)) $(if $(CONFIG),--config $(CONFIG))

.PHONY: up test setup deps images minio kubernetes kaniko bench lint clean

up: setup
	@if [ "$$(id -u)" = 0 ]; then scripts/podman-setup.sh && scripts/build-images.sh; \
	elif command -v podman >/dev/null; then scripts/build-images.sh; \
	else echo "make up: podman is not installed (run as root once): run make up as root once, or set spawner.backend: local (unprivileged, no isolation)"; fi
	$(VENV)/bin/aiportal up $(UP_ARGS)

# The slow builds run side by side: the Go builds take the CPUs while the image builds
# mostly wait on the package mirrors (a cold run saves several minutes).
test: setup deps lint
	$(MAKE) --no-print-directory -j3 minio kubernetes kaniko images
	$(VENV)/bin/pytest -n $(TEST_WORKERS)

setup: $(VENV)/.installed node_modules/.installed $(VENDOR)/uPlot.iife.min.js

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The usage page's charting library (npm uplot), served from the package: copied, never committed.
$(VENDOR)/uPlot.iife.min.js: node_modules/.installed
	install -D -m 0644 -t $(VENDOR) $(UPLOT)/dist/uPlot.iife.min.js $(UPLOT)/dist/uPlot.min.css
	install -m 0644 $(UPLOT)/LICENSE $(VENDOR)/uPlot.LICENSE

deps:
	scripts/system-deps.sh
	scripts/podman-setup.sh

minio:
	scripts/install-minio.sh >/dev/null

kaniko:
	scripts/install-kaniko.sh >/dev/null

kubernetes: deps
	scripts/install-kubernetes.sh >/dev/null

images: deps
	scripts/build-images.sh

bench: setup
	@for b in benchmarks/*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

lint: setup
	$(VENV)/bin/ruff check portal spawners hub_config tests benchmarks

clean:
	rm -rf $(VENV) node_modules *.egg-info test-artifacts $(VENDOR)
