# syntax=docker/dockerfile:1
# The Tinyflow operator image: `tinyflow operator`, run by charts/tinyflow-operator.
#
#   make image-operator                      # or:
#   docker build -f images/operator.Dockerfile -t ghcr.io/tinyflow/tinyflow-operator:0.1.0 .
#
# Build stage: the release binary with the Swift runtime and Foundation linked
# in statically (--static-swift-stdlib), so the runtime image needs no Swift;
# linked as scripts/build-release.sh links it (lld, packed relative relocations,
# no exported symbols: less code resident per process, see docs/performance.md).
ARG SWIFT_IMAGE=swift:6.3-noble
ARG RUNTIME_IMAGE=ubuntu:24.04

FROM ${SWIFT_IMAGE} AS build
WORKDIR /src
# Tests/ too: Package.swift declares the test targets. The cache mount keeps
# the checked-out dependencies and object files between builds.
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN --mount=type=cache,target=/src/.build,id=tinyflow-build \
    swift build -c release --static-swift-stdlib --product tinyflow \
        -Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs -Xlinker --no-export-dynamic \
    && mkdir -p /out \
    && cp "$(swift build -c release --show-bin-path)/tinyflow" /out/tinyflow \
    && strip /out/tinyflow

# Runtime stage: the same distribution as the builder (glibc), plus CA
# certificates and time zones. The static Swift stdlib needs only libc and
# libstdc++; libcurl/libxml2 would be needed only by FoundationNetworking or
# FoundationXML, which tinyflow does not import.
FROM ${RUNTIME_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tzdata libstdc++6 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 65532 tinyflow \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin tinyflow
COPY --from=build /out/tinyflow /usr/local/bin/tinyflow
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["tinyflow"]
CMD ["operator", "--metrics-address", "0.0.0.0:8080"]
