#!/usr/bin/env bash
# Puts the Kubernetes JSON schemas (strict: unknown fields are errors) of the
# oldest and newest Kubernetes versions the charts are tested against in
# .tools/k8s-schemas/v<VERSION>-local-strict/, from the PyPI wheel
# kubernetes-validate, which ships them. Idempotent. Prints the directory.
set -euo pipefail
cd "$(dirname "$0")/.."
package_version="${KUBERNETES_VALIDATE_VERSION:-1.37.0}"
read -r -a versions <<<"${K8S_SCHEMA_VERSIONS:-1.25.0 1.37.0}"
tools="${TOOLS_DIR:-$PWD/.tools}"
out="$tools/k8s-schemas"

complete=1
for v in "${versions[@]}"; do
    [[ -f "$out/v$v-local-strict/_definitions.json" ]] || complete=0
done
if ((complete)); then
    echo "$out"
    exit 0
fi

mkdir -p "$tools/download" "$out"
shopt -s nullglob
wheels=("$tools"/download/kubernetes_validate-"$package_version"-*.whl)
wheel="${wheels[0]:-}"
if [[ -z "$wheel" ]]; then
    echo "downloading kubernetes-validate==$package_version from PyPI" >&2
    python3 -m pip download --quiet --no-deps --disable-pip-version-check \
        --dest "$tools/download" "kubernetes-validate==$package_version" >&2
    wheels=("$tools"/download/kubernetes_validate-"$package_version"-*.whl)
    wheel="${wheels[0]:?pip download left no wheel}"
fi
python3 - "$wheel" "$out" "${versions[@]}" <<'PY'
import os, sys, zipfile
wheel, out, versions = sys.argv[1], sys.argv[2], sys.argv[3:]
prefix = "kubernetes_validate/kubernetes-json-schema/"
with zipfile.ZipFile(wheel) as z:
    for v in versions:
        folder = f"v{v}-local-strict/"
        names = [n for n in z.namelist() if n.startswith(prefix + folder) and n.endswith(".json")]
        if not names:
            sys.exit(f"kubernetes-validate has no schemas for Kubernetes {v}")
        for n in names:
            target = os.path.join(out, n[len(prefix):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(z.read(n))
PY
echo "$out"
