# The two commands of the README, and the steps they are made of.
# Everything is idempotent and cached under $(CRI_MIGRATOR_CACHE) (default /var/cache/cri-migrator).
SHELL := /bin/bash
.DEFAULT_GOAL := help
K8S ?= 1.32

.PHONY: help demo test host node-modules build image cluster-up cluster-down unit e2e docs

help:
	@echo "make demo   - build a local kind cluster with Docker workers and migrate them to containerd"
	@echo "make test   - run every test: unit, integration, end to end on kind (1.23 and 1.32)"
	@echo "make cluster-up K8S=1.23|1.32, make cluster-down K8S=..."
	@echo "make image  - build the container image cri-migrator.local/cri-migrator:dev"
	@echo "make docs   - regenerate the README's configuration reference"

host:
	bash hack/host-setup.sh

# npm install, not npm ci: the lock file npm 11 writes here lists only this platform's optional
# packages (rollup's native builds), and `npm ci` refuses it as out of sync; install keeps to it.
node_modules/.package-lock.json: package-lock.json
	npm install --no-audit --no-fund

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

test: host node-modules
	npm test

unit: node-modules
	npm run test:unit

e2e: host node-modules
	npm run test:e2e

cluster-up: host
	bash hack/cluster.sh up --k8s $(K8S)

cluster-down:
	bash hack/cluster.sh down --k8s $(K8S)
