# Tinyflow developer commands. `make run` and `make test` are the two a
# newcomer needs; CI runs `.ci/run`, which calls `make crds-check test`.
SWIFT ?= swift
FLOW ?= examples/hello-flow.yaml

.PHONY: build test crds crds-check run bench format

build:
	$(SWIFT) build

test:
	$(SWIFT) test

# Regenerate crds/ from the Swift API types (commit the result).
crds:
	$(SWIFT) run tinyflow crds --output crds

# Fail if crds/ differs from what the Swift API types generate.
crds-check:
	$(SWIFT) run tinyflow crds --output crds --check

# Run the example flow in one process, no cluster needed; Ctrl-C stops it.
run:
	$(SWIFT) run tinyflow run $(FLOW)

bench:
	$(SWIFT) run -c release tinyflow-bench runtime

format:
	$(SWIFT) format --in-place --recursive Package.swift Sources Tests
