# The two commands of the README, and the steps they are made of.
# Everything is idempotent and cached under $(CRI_MIGRATOR_CACHE) (default /var/cache/cri-migrator).
SHELL := /bin/bash
.DEFAULT_GOAL := help
K8S ?= 1.32

.PHONY: help demo test test-long host node-modules build image cluster-up cluster-down unit e2e e2e-builds docs pkg-tools chart krew fault-matrix

help:
	@echo "make demo   - build a local kind cluster with Docker workers and migrate them to containerd"
	@echo "make test   - run every test: unit, integration, end to end on kind (1.23 and 1.32), each capability once (builds what e2e needs first)"
	@echo "make e2e-builds - build (or find cached) everything the e2e suites need"
	@echo "make test-long - make test plus the cases that repeat a capability, HA on 1.23 too, harness long checks"
	@echo "make cluster-up K8S=1.23|1.32, make cluster-down K8S=..."
	@echo "make image  - build the container image cri-migrator.local/cri-migrator:dev"
	@echo "make docs   - regenerate the README's configuration reference"
	@echo "make chart  - regenerate charts/cri-migrator from manifests/"
	@echo "make krew   - build the krew archive and manifest of kubectl cri-migrate (out/krew)"
	@echo "make fault-matrix - every fault at the start of every phase, controller and CLI (hours; FAULTS=ssh-3s,sigkill runs those rows; ssh-3s@Preflight/cli one cell); writes docs/fault-matrix.md"

host:
	bash hack/host-setup.sh

# npm ci: exactly the committed lock file (it lists every platform's optional packages, so
# npm ci accepts it on any machine).
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund

node-modules: node_modules/.package-lock.json

build: node-modules
	npm run build

demo: host build
	bash hack/demo.sh

# The container image, from local Debian trixie + Node 20 bases (no registry needed).
image: host
	bash hack/build-app-image.sh

docs: node-modules
	npm run docs:config

# Helm and krew from the Go module proxy (cached by version), for the chart and plugin tests.
pkg-tools: host
	bash hack/build-pkg-tools.sh >/dev/null

chart: node-modules
	npm run chart:sync

krew: node-modules
	npm run krew

# What the e2e suites build, built first on a quiet machine (cached: seconds when warm).
e2e-builds: host
	bash hack/build-e2e.sh

# Builds overlapped with the suites (hack/test.sh): the ones the first suites need first, the
# rest in the background at the lowest priority; then the e2e suites, then unit and integration.
test: host node-modules
	bash hack/test.sh

# Every case: those make test leaves out because another case proves the same capability
# (E2E_LONG), the HA control plane on 1.23 too, and the harness's long checks.
test-long: host node-modules pkg-tools e2e-builds
	npx vitest run test/unit test/integration
	E2E_LONG=1 E2E_HARNESS_LONG=1 E2E_CP_MINORS=1.23,1.32 npm run test:e2e

unit: node-modules
	npm run test:unit

e2e: host node-modules pkg-tools e2e-builds
	npm run test:e2e

cluster-up: host
	bash hack/cluster.sh up --k8s $(K8S)

cluster-down:
	bash hack/cluster.sh down --k8s $(K8S)

# The whole fault matrix (make test runs one cell of every fault kind): its own cluster, then
# docs/fault-matrix.md.
fault-matrix: host node-modules
	E2E_K8S=1.32 E2E_FAULT_MATRIX=1 E2E_FAULTS=$(FAULTS) npx vitest run -c vitest.e2e.config.ts test/e2e/migrate-132.test.ts -t 'faults at every step'
