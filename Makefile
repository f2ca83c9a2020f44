# Tinyflow developer commands. `make run` and `make test` are the two a
# newcomer needs; CI runs `.ci/run`: `make crds-check test`, then scripts/test-charts.sh.
SWIFT ?= swift
FLOW ?= examples/hello-flow.yaml

CHART_CRDS := charts/tinyflow-operator/crds

.PHONY: build test test-unit test-ui crds crds-check chart-crds-check run run-single up bench release format image image-operator image-module-host helm-package test-charts fuzz fuzz-merge fuzz-replay

build:
	$(SWIFT) build

# The whole suite, in three runs: the suites that start child processes and servers
# (tinyflow up, module hosts, PostgreSQL) apart from the timing-sensitive in-process ones,
# so that on a 2-core machine one kind does not starve the other's deadlines; and the
# load suites (20,000 connections, floods of hostile requests; a flow busy on every core while
# its host is killed or its nodes deleted), whose point is that others are served within a
# latency bound, or that fault handling keeps its bounds, alone and one test at a time.
PROCESS_SUITES := '^(LocalModeTests|ModuleHostAppTests|ContextStoreTests|MessageStoreTests)\.'
LOAD_SUITES := '^(CommonComponentsTests\.HTTPServerLimitsTests|ControlPlaneTests\.HostileRequestTests|LocalModeTests\.StopEndToEndTests|LocalModeTests\.CountersEndToEndTests)\b'

test:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip $(PROCESS_SUITES) --skip $(LOAD_SUITES)
	$(SWIFT) test --skip-build --filter $(PROCESS_SUITES) --skip $(LOAD_SUITES)
	$(SWIFT) test --skip-build --no-parallel --filter $(LOAD_SUITES)

# The pure and in-process tests: everything except the suites that start child
# processes (LocalModeTests, ModuleHostAppTests, kubectl), an embedded control
# plane, or HTTP/gRPC servers. Under a minute after a build; `make test` runs all.
UNIT_SKIP := \
	'^(LocalModeTests|ModuleHostAppTests)\.' \
	'^ControlPlaneTests\.(APISemanticsTests|BuiltinResourceTests|KubectlAcceptanceTests|OperatorPathTests|KeyedListApplyTests|PersistenceAndConcurrencyTests|ServiceProxyTests|WatchTests)\b' \
	'^GRPCTransportTests\.(BatchTransportTests|ControlTests|MutualTLSTests|ReconnectBackoffTests|TransportTests)\b' \
	'^KubernetesClientTests\.ControlPlaneClientTests\b' \
	'^KubernetesRuntimeTests\.(ControllerTests|LeaderElectionTests|ManagerTests|OperatorHTTPServerTests|WatcherIntegrationTests)\b' \
	'^OperatorTests\.(OperatorTests|OperatorForgettingTests|FlowRollbackTests|GRPCConnectorTests|DebugEndpointTests)\b' \
	'^CommonComponentsTests\.(HTTPComponentsTests|HTTPServerLimitsTests)\b' \
	'^ControlPlaneTests\.HostileRequestTests\b' \
	'^OperatorTests\.(ContextLifecycleTests|SettingsRejectionTests)\b' \
	'^ContextStoreTests\.PostgresContextStoreTests\b'

test-unit:
	TINYFLOW_TEST_TIER=unit $(SWIFT) test $(foreach pattern,$(UNIT_SKIP),--skip $(pattern))

# The console in a real browser (headless Chromium driven by Selenium, ui-tests/test_console.py)
# against `tinyflow up`: graph, deploy, history and rollback, debug sidebar, token refusal, a
# 1,000-node flow's render time, memory under a fast debug node. Needs the Debian packages
# chromium and chromium-driver and `pip install selenium`; screenshots in test-artifacts/ui/.
test-ui:
	SWIFT=$(SWIFT) scripts/test-ui.sh

# Regenerate crds/ from the Swift API types and copy them into the operator
# chart (commit the result).
crds:
	$(SWIFT) run tinyflow crds --output crds
	rm -f $(CHART_CRDS)/*.yaml
	mkdir -p $(CHART_CRDS)
	cp crds/*.yaml $(CHART_CRDS)/

# Fail if crds/ differs from what the Swift API types generate, or the
# operator chart's copy differs from crds/.
crds-check: chart-crds-check
	$(SWIFT) run tinyflow crds --output crds --check

# Fail if charts/tinyflow-operator/crds/ is not exactly the files of crds/.
chart-crds-check:
	@diff -r crds $(CHART_CRDS) >/dev/null || { \
		diff -r crds $(CHART_CRDS); \
		echo "$(CHART_CRDS) differs from crds/; run \`make crds\` and commit" >&2; exit 1; }

# The whole system on this machine, no cluster: control plane, module hosts, operator and
# the console (open the printed `console: http://127.0.0.1:PORT/#token=…`); Ctrl-C stops it.
run:
	$(SWIFT) run tinyflow up -f $(FLOW)

up: run

# The example flow in one process, for component authors (no control plane, no console).
run-single:
	$(SWIFT) run tinyflow run $(FLOW)

# `tinyflow` as the images ship it (scripts/build-release.sh), in .build-release-static.
release:
	./scripts/build-release.sh

# The operator figures are measured on that `tinyflow operator`, which
# `tinyflow-bench operator` builds with scripts/build-release.sh first.
bench:
	$(SWIFT) run -c release tinyflow-bench runtime
	$(SWIFT) run -c release tinyflow-bench context
	$(SWIFT) run -c release tinyflow-bench durable
	$(SWIFT) run -c release tinyflow-bench operator

format:
	$(SWIFT) format --in-place --recursive Package.swift Sources Tests

# Container images of the operator and of the built-in module host. Needs a
# Docker engine (none runs on the development machines: build in CI or on a
# workstation). IMAGE_REGISTRY and IMAGE_TAG name the images.
IMAGE_REGISTRY ?= ghcr.io/tinyflow
IMAGE_TAG ?= 0.1.0
DOCKER ?= docker

image: image-operator image-module-host

image-operator image-module-host: image-%:
	@$(DOCKER) info >/dev/null 2>&1 || { \
		echo "make image: no Docker daemon answers ('$(DOCKER) info' failed); build the images where a Docker engine runs" >&2; exit 1; }
	$(DOCKER) build -f images/$*.Dockerfile -t $(IMAGE_REGISTRY)/tinyflow-$*:$(IMAGE_TAG) .

# Package both charts into dist/charts/*.tgz.
HELM ?= $(shell command -v helm 2>/dev/null || echo .tools/bin/helm)
helm-package: chart-crds-check
	@test -x "$$(command -v $(HELM))" || scripts/fetch-helm.sh >/dev/null
	mkdir -p dist/charts
	$(HELM) lint charts/tinyflow-operator
	$(HELM) lint charts/tinyflow-module --values charts/tinyflow-module/ci/default-values.yaml
	$(HELM) package charts/tinyflow-operator charts/tinyflow-module --destination dist/charts

# Lint and render both charts with the real helm binary and check the manifests.
test-charts:
	scripts/test-charts.sh

# Fuzz the parsers of hostile input (Fuzz/Targets: JSON, YAML manifests, expressions, the
# cross-module wire decoder, control-plane requests) with libFuzzer and AddressSanitizer,
# FUZZ_SECONDS each (FUZZ_PARALLEL at a time), starting from the committed corpora in
# Fuzz/Corpus. The instrumented build goes to .build-fuzz (release: about 25 minutes the
# first time); findings and new inputs to .build-fuzz/findings, never to Fuzz/Corpus.
# FUZZ_TARGETS picks some, e.g. `make fuzz FUZZ_TARGETS=FuzzJSON FUZZ_SECONDS=60`.
# See docs/security.md, "Fuzzing".
FUZZ_SECONDS ?= 600
FUZZ_PARALLEL ?= 1
FUZZ_TARGETS ?=
FUZZ_REPLAYERS := FuzzJSON FuzzYAML FuzzExpressions FuzzWire FuzzControlPlaneRequests

fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_PARALLEL=$(FUZZ_PARALLEL) scripts/fuzz.sh run $(FUZZ_TARGETS)

# Add the inputs of the last `make fuzz` that reach new code to Fuzz/Corpus (minimised; commit them).
fuzz-merge:
	scripts/fuzz.sh merge $(FUZZ_TARGETS)

# Replay every committed corpus input (seeds and past findings) with the plain debug build:
# a regression check that needs no instrumented build.
fuzz-replay:
	$(SWIFT) build
	@for target in $(FUZZ_REPLAYERS); do .build/debug/$$target Fuzz/Corpus/$$target || exit 1; done
