#!/usr/bin/env python3
"""Chart tests: lints and renders both Helm charts with the real helm binary
and checks the manifests.

    python3 scripts/test_charts.py --helm .tools/bin/helm [--hadolint .tools/bin/hadolint]

Checks: expected kinds; the restricted security settings and probes on every
container; the operator's RBAC equals `tinyflow operator --print-rbac` (or,
until that command exists, charts/tinyflow-operator/ci/expected-rbac.json,
which Tests/OperatorTests/RBACTests.swift and this script hold equal to
Sources/Operator/OperatorPermissions.swift); the module chart's TinyModule
validates against crds/tinyflow.dev_tinymodules.yaml; bad values are rejected
by values.schema.json with its message. Ends with `N passed, N failed`.
"""

import argparse
import json
import tempfile
import time
import os
import re
import shutil
import subprocess
import sys
import traceback

import yaml

try:
    import jsonschema
except ImportError:  # scripts/test-charts.sh installs it; say so plainly if run alone
    sys.exit("python jsonschema is missing: pip install jsonschema (scripts/test-charts.sh does)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPERATOR = os.path.join(ROOT, "charts", "tinyflow-operator")
MODULE = os.path.join(ROOT, "charts", "tinyflow-module")
FIXTURES = os.path.join(ROOT, "scripts", "chart-fixtures")
NAMESPACE = "tinyflow-system"

results = {"passed": 0, "failed": 0}


def check(name):
    """Runs one named test function, counting and reporting it."""

    def run(fn):
        try:
            fn()
        except Exception as error:  # noqa: BLE001 - every failure is reported, not raised
            results["failed"] += 1
            print(f"FAIL {name}: {error}")
            if os.environ.get("CHART_TESTS_VERBOSE"):
                traceback.print_exc()
        else:
            results["passed"] += 1
            print(f"ok   {name}")
        return fn

    return run


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


# --- helm ---------------------------------------------------------------------


def helm(*args, ok=True):
    proc = subprocess.run([HELM, *args], capture_output=True, text=True)
    if ok and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{proc.stderr.strip()}")
    return proc


def render(chart, release, *values, namespace=NAMESPACE, sets=(), include_crds=False):
    args = ["template", release, chart, "--namespace", namespace]
    for file in values:
        args += ["--values", file]
    for s in sets:
        args += ["--set", s]
    if include_crds:
        args.append("--include-crds")
    docs = [d for d in yaml.safe_load_all(helm(*args).stdout) if d]
    return docs


def of_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def one(docs, kind, name=None):
    found = [d for d in of_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    expect(len(found) == 1, f"expected one {kind}{' ' + name if name else ''}, found {len(found)}")
    return found[0]


def kinds(docs):
    return sorted(d["kind"] for d in docs)


# --- checks shared by both charts ----------------------------------------------


def check_pod_security(obj):
    """The restricted settings on a Deployment's pod template, or on a Pod."""
    pod = obj["spec"]["template"]["spec"] if obj["kind"] == "Deployment" else obj["spec"]
    psc = pod.get("securityContext", {})
    expect(psc.get("runAsNonRoot") is True, "pod securityContext.runAsNonRoot must be true")
    expect(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "pod seccompProfile must be RuntimeDefault")
    expect("automountServiceAccountToken" in pod, "pod must set automountServiceAccountToken explicitly")
    containers = pod.get("containers", []) + pod.get("initContainers", [])
    expect(containers, "no containers")
    for c in containers:
        sc = c.get("securityContext", {})
        where = f"container {c['name']}"
        expect(sc.get("runAsNonRoot") is True, f"{where}: runAsNonRoot must be true")
        expect(sc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem must be true")
        expect(sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation must be false")
        expect(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: capabilities.drop must be [ALL]")
        expect(not sc.get("capabilities", {}).get("add"), f"{where}: no capabilities may be added")
        expect(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{where}: seccompProfile RuntimeDefault")
        expect(not sc.get("privileged"), f"{where}: must not be privileged")
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                expect(r in res.get(kind, {}), f"{where}: resources.{kind}.{r} missing")
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        expect("/tmp" in mounts, f"{where}: a writable /tmp (emptyDir) is needed with a read-only root")


def check_probes(deployment, port_name, port_number):
    c = deployment["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    expect(ports.get(port_name) == port_number, f"container port {port_name} is {ports.get(port_name)}, want {port_number}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = c.get(probe, {}).get("httpGet", {})
        expect(get.get("path") == path, f"{probe} path {get.get('path')}, want {path}")
        expect(get.get("port") in (port_name, port_number), f"{probe} port {get.get('port')}, want {port_name}")


def args_of(deployment):
    return deployment["spec"]["template"]["spec"]["containers"][0]["args"]


def flag(args, name):
    """The value of `--name VALUE` or `--name=VALUE`, or None."""
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def all_flags(args, name):
    return [args[i + 1] for i, a in enumerate(args) if a == name and i + 1 < len(args)]


def selector_matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def expect_schema_rejection(chart, values_file, message, sets=()):
    args = ["template", "bad", chart, "--namespace", NAMESPACE, "--values", values_file]
    for s in sets:
        args += ["--set", s]
    proc = helm(*args, ok=False)
    expect(proc.returncode != 0, f"helm template accepted {os.path.relpath(values_file, ROOT)}")
    expect(message in proc.stderr, f"stderr lacks {message!r}:\n{proc.stderr.strip()}")


# --- Kubernetes schemas ----------------------------------------------------------


def k8s_validator(schema_root, version):
    """Validates a built-in object against the strict JSON schema of one Kubernetes
    version (from kubernetes-validate, see scripts/fetch-k8s-schemas.sh).
    Returns False for kinds it has no schema of (custom resources)."""
    from referencing import Registry, Resource

    base = os.path.join(schema_root, f"v{version}-local-strict")
    registry = Resource.from_contents(json.load(open(os.path.join(base, "_definitions.json")))) @ Registry()

    def validate(doc):
        api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", doc["apiVersion"])
        path = os.path.join(base, f"{doc['kind'].lower()}-{api}.json")
        if not os.path.exists(path):
            return False
        validator = jsonschema.Draft202012Validator(json.load(open(path)), registry=registry)
        error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path)
            raise AssertionError(f"{doc['kind']} {doc['metadata']['name']}: {where}: {error.message}")
        return True

    return validate


# --- RBAC ------------------------------------------------------------------------


def canonical(rules):
    """Rules as a sorted list of (groups, resources, verbs) tuples, each sorted."""
    return sorted(
        (tuple(sorted(r.get("apiGroups", []))), tuple(sorted(r.get("resources", []))), tuple(sorted(r.get("verbs", []))))
        for r in rules
    )


def triples(rules):
    return {
        (g, res, v)
        for r in rules
        for g in r.get("apiGroups", [])
        for res in r.get("resources", [])
        for v in r.get("verbs", [])
    }


def rules_from_swift_source():
    """OperatorPermissions.rules read off the Swift source (a cross-check that needs no build)."""
    path = os.path.join(ROOT, "Sources", "Operator", "OperatorPermissions.swift")
    text = open(path).read()
    body = text[text.index("public static let rules") :]
    body = body[: body.index("\n    ]\n")]
    rules = []
    for m in re.finditer(r"PolicyRule\(\s*apiGroups:\s*\[(.*?)\],\s*resources:\s*\[(.*?)\],\s*verbs:\s*\[(.*?)\]\)", body, re.S):
        rules.append({k: re.findall(r'"([^"]*)"', m.group(i + 1)) for i, k in enumerate(("apiGroups", "resources", "verbs"))})
    expect(rules, f"no PolicyRule found in {path}")
    return rules


def printed_rbac():
    """`tinyflow operator --print-rbac` from $TINYFLOW_BIN or an existing .build (never builds), or None."""
    if os.environ.get("TINYFLOW_PRINT_RBAC_JSON"):
        return json.load(open(os.environ["TINYFLOW_PRINT_RBAC_JSON"]))
    binaries = [os.environ.get("TINYFLOW_BIN", "")]
    binaries += [os.path.join(ROOT, ".build", config, "tinyflow") for config in ("debug", "release")]
    for binary in binaries:
        if not binary or not os.access(binary, os.X_OK):
            continue
        command = [binary, "operator", "--print-rbac"]
        try:
            proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if proc.returncode == 0:
            try:
                return json.loads(proc.stdout)
            except json.JSONDecodeError:
                continue
    return None


# --- the tests ---------------------------------------------------------------------


def main():
    global HELM
    parser = argparse.ArgumentParser()
    parser.add_argument("--helm", default="helm")
    parser.add_argument("--hadolint", default="")
    parser.add_argument("--k8s-schemas", default="", help="directory of v<VERSION>-local-strict schema folders")
    options = parser.parse_args()
    HELM = options.helm

    expected_file = os.path.join(OPERATOR, "ci", "expected-rbac.json")
    file_rules = json.load(open(expected_file))
    printed = printed_rbac()
    if printed is not None:
        expected = printed
        print("RBAC source: tinyflow operator --print-rbac")
    else:
        expected = file_rules
        print(f"RBAC source: {os.path.relpath(expected_file, ROOT)} (tinyflow operator --print-rbac is not available in this build)")

    @check("expected-rbac.json equals OperatorPermissions.rules in the Swift source")
    def _():
        expect(file_rules == rules_from_swift_source(), f"{expected_file} differs from OperatorPermissions.swift")

    if printed is not None:

        @check("expected-rbac.json equals tinyflow operator --print-rbac")
        def _():
            expect(canonical(file_rules) == canonical(printed), "ci/expected-rbac.json is stale: update it from --print-rbac")

    lint_runs = [
        ("operator", OPERATOR, []),
        *[("operator " + f, OPERATOR, [os.path.join(OPERATOR, "ci", f)]) for f in sorted(os.listdir(os.path.join(OPERATOR, "ci"))) if f.endswith("-values.yaml")],
        *[("module " + f, MODULE, [os.path.join(MODULE, "ci", f)]) for f in sorted(os.listdir(os.path.join(MODULE, "ci"))) if f.endswith("-values.yaml")],
    ]
    for label, chart, values in lint_runs:

        @check(f"helm lint --strict {label}")
        def _():
            args = ["lint", "--strict", chart, "--namespace", NAMESPACE]
            for v in values:
                args += ["--values", v]
            helm(*args)

    # --- operator, defaults: cluster-wide -------------------------------------------
    op_ci = lambda f: os.path.join(OPERATOR, "ci", f)  # noqa: E731
    default = render(OPERATOR, "tinyflow", op_ci("default-values.yaml"))
    deployment = None

    @check("operator defaults: expected kinds")
    def _():
        want = ["ClusterRole", "ClusterRoleBinding", "Deployment", "Pod", "PodDisruptionBudget", "Service", "ServiceAccount"]
        expect(kinds(default) == want, f"kinds {kinds(default)}, want {want}")

    @check("operator defaults: ClusterRole rules equal OperatorPermissions.rules exactly")
    def _():
        role = one(default, "ClusterRole")
        expect(canonical(role["rules"]) == canonical(expected), f"rendered {role['rules']}\nexpected {expected}")
        expect(triples(role["rules"]) == triples(expected), "granted (group, resource, verb) set differs")

    @check("operator defaults: ClusterRoleBinding binds the ClusterRole to the ServiceAccount")
    def _():
        binding = one(default, "ClusterRoleBinding")
        sa = one(default, "ServiceAccount")
        expect(binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": one(default, "ClusterRole")["metadata"]["name"]}, f"roleRef {binding['roleRef']}")
        expect(binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}], f"subjects {binding['subjects']}")
        dep = one(default, "Deployment")
        expect(dep["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"], "Deployment uses another ServiceAccount")

    @check("operator defaults: tinyflow operator args, 2 replicas, leader election on")
    def _():
        dep = one(default, "Deployment")
        args = args_of(dep)
        expect(args[0] == "operator", f"first arg {args[0]!r}, want 'operator'")
        expect(flag(args, "--metrics-address") == "0.0.0.0:8080", f"--metrics-address {flag(args, '--metrics-address')}")
        expect(flag(args, "--leader-election") == "true", "leader election must be on by default")
        expect(flag(args, "--lease-name") == "tinyflow-operator", "--lease-name")
        expect(flag(args, "--lease-namespace") == NAMESPACE, "--lease-namespace must be the release namespace")
        expect(flag(args, "--namespace") is None, "cluster-wide mode passes no --namespace")
        expect(dep["spec"]["replicas"] == 2, f"replicas {dep['spec']['replicas']}")

    @check("operator defaults: security settings on every container")
    def _():
        check_pod_security(one(default, "Deployment"))
        expect(one(default, "Deployment")["spec"]["template"]["spec"]["automountServiceAccountToken"] is True, "the operator needs its token")

    @check("operator defaults: /healthz and /readyz probes on the metrics port")
    def _():
        check_probes(one(default, "Deployment"), "metrics", 8080)

    @check("operator defaults: metrics Service selects the operator pods")
    def _():
        svc = one(default, "Service")
        pod_labels = one(default, "Deployment")["spec"]["template"]["metadata"]["labels"]
        expect(selector_matches(svc["spec"]["selector"], pod_labels), "Service selector does not match the pods")
        expect(svc["spec"]["ports"][0]["targetPort"] == "metrics", "Service targets another port")

    @check("operator: --include-crds renders exactly the CRDs of crds/")
    def _():
        docs = render(OPERATOR, "tinyflow", include_crds=True)
        rendered = sorted(d["metadata"]["name"] for d in of_kind(docs, "CustomResourceDefinition"))
        top = sorted(yaml.safe_load(open(os.path.join(ROOT, "crds", f)))["metadata"]["name"] for f in os.listdir(os.path.join(ROOT, "crds")) if f.endswith(".yaml"))
        expect(rendered == top, f"rendered CRDs {rendered}, crds/ has {top}")

    @check("operator: chart crds/ holds exactly the files of crds/")
    def _():
        top, chart = os.path.join(ROOT, "crds"), os.path.join(OPERATOR, "crds")
        expect(sorted(os.listdir(top)) == sorted(os.listdir(chart)), "file lists differ: run make crds")
        for f in os.listdir(top):
            expect(open(os.path.join(top, f), "rb").read() == open(os.path.join(chart, f), "rb").read(), f"{f} differs: run make crds")

    # --- operator, namespaced mode -----------------------------------------------------
    namespaced = render(OPERATOR, "tinyflow", op_ci("namespaced-values.yaml"))

    @check("operator namespaced: no cluster-wide RBAC, a Role+RoleBinding per watched namespace")
    def _():
        expect(not of_kind(namespaced, "ClusterRole") and not of_kind(namespaced, "ClusterRoleBinding"), "namespaced mode must not create cluster-wide RBAC")
        roles = {r["metadata"]["namespace"]: r for r in of_kind(namespaced, "Role") if not r["metadata"]["name"].endswith("-leader-election")}
        expect(sorted(roles) == ["flows-a", "flows-b"], f"Roles in {sorted(roles)}")
        for ns, role in roles.items():
            expect(canonical(role["rules"]) == canonical(expected), f"Role in {ns}: {role['rules']}")
        bindings = {b["metadata"]["namespace"]: b for b in of_kind(namespaced, "RoleBinding")}
        for ns in ("flows-a", "flows-b", NAMESPACE):
            b = bindings.get(ns)
            expect(b is not None, f"no RoleBinding in {ns}")
            expect(b["subjects"][0]["namespace"] == NAMESPACE, f"RoleBinding in {ns} binds a ServiceAccount of another namespace")

    @check("operator namespaced: the Lease namespace gets only the Lease rule")
    def _():
        role = one(namespaced, "Role", "tinyflow-operator-leader-election")  # release "tinyflow": no doubled prefix
        expect(role["metadata"]["namespace"] == NAMESPACE, "leader-election Role must be in the release namespace")
        lease = [r for r in expected if "leases" in r["resources"]]
        expect(canonical(role["rules"]) == canonical(lease), f"rules {role['rules']}")

    @check("operator namespaced: nothing granted beyond OperatorPermissions.rules")
    def _():
        granted = set()
        for r in of_kind(namespaced, "Role"):
            granted |= triples(r["rules"])
        expect(granted <= triples(expected), f"extra grants: {sorted(granted - triples(expected))}")

    @check("operator namespaced: --namespace per watched namespace, 3 replicas")
    def _():
        dep = one(namespaced, "Deployment")
        expect(all_flags(args_of(dep), "--namespace") == ["flows-a", "flows-b"], f"args {args_of(dep)}")
        expect(dep["spec"]["replicas"] == 3, "replicas")
        check_pod_security(dep)

    # --- operator, ServiceMonitor and custom values ---------------------------------------
    monitoring = render(OPERATOR, "tinyflow", op_ci("monitoring-values.yaml"))

    @check("operator monitoring: ServiceMonitor scrapes the metrics Service")
    def _():
        sm = one(monitoring, "ServiceMonitor")
        svc = one(monitoring, "Service")
        expect(selector_matches(sm["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"]), "ServiceMonitor does not select the Service")
        endpoint = sm["spec"]["endpoints"][0]
        expect(endpoint["port"] == "metrics" and endpoint["path"] == "/metrics" and endpoint["interval"] == "15s", f"endpoint {endpoint}")
        expect(sm["metadata"]["labels"].get("release") == "prometheus", "serviceMonitor.labels missing")

    @check("operator monitoring: custom port, resources, digest, leader election off, no PDB")
    def _():
        dep = one(monitoring, "Deployment")
        c = dep["spec"]["template"]["spec"]["containers"][0]
        expect(c["image"].endswith("@sha256:" + "0123456789abcdef" * 4), f"image {c['image']}")
        expect(c["resources"]["limits"] == {"cpu": "2", "memory": "1Gi"}, f"resources {c['resources']}")
        args = args_of(dep)
        expect(flag(args, "--metrics-address") == "0.0.0.0:9090", "metrics port")
        expect(flag(args, "--leader-election") == "false" and flag(args, "--lease-name") is None, f"args {args}")
        expect("--log-level=debug" in args, "extraArgs")
        expect("runAsUser" not in c["securityContext"], "runAsUser: null must leave the UID to the platform")
        check_probes(dep, "metrics", 9090)
        check_pod_security(dep)
        expect(not of_kind(monitoring, "PodDisruptionBudget"), "no PDB for one replica")

    @check("operator: replicas > 1 without leader election is refused")
    def _():
        proc = helm("template", "t", OPERATOR, "--set", "leaderElection.enabled=false", ok=False)
        expect(proc.returncode != 0 and "needs leaderElection.enabled=true" in proc.stderr, proc.stderr)

    @check('operator: values.schema.json rejects replicas: "two"')
    def _():
        expect_schema_rejection(OPERATOR, os.path.join(FIXTURES, "bad-operator-replicas-values.yaml"), "replicas: Invalid type. Expected: integer, given: string")

    @check("operator: values.schema.json rejects an unknown key")
    def _():
        proc = helm("template", "t", OPERATOR, "--set", "replica=2", ok=False)
        expect(proc.returncode != 0 and "replica" in proc.stderr and "not allowed" in proc.stderr, proc.stderr)

    @check("operator: values.schema.json rejects a bad watch namespace")
    def _():
        proc = helm("template", "t", OPERATOR, "--set", "watchNamespaces={Flows_A}", ok=False)
        expect(proc.returncode != 0 and "watchNamespaces.0" in proc.stderr, proc.stderr)

    # --- module ---------------------------------------------------------------------------
    crd = yaml.safe_load(open(os.path.join(ROOT, "crds", "tinyflow.dev_tinymodules.yaml")))
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    tinymodule_schema = version["schema"]["openAPIV3Schema"]
    mod_ci = lambda f: os.path.join(MODULE, "ci", f)  # noqa: E731

    def check_tinymodule(docs, module, namespace, port):
        tm = one(docs, "TinyModule")
        expect(tm["apiVersion"] == f"{crd['spec']['group']}/v1alpha1", f"apiVersion {tm['apiVersion']}")
        expect(tm["kind"] == crd["spec"]["names"]["kind"], "kind")
        jsonschema.validate(tm, tinymodule_schema)
        dep = one(docs, "Deployment")
        svc = next(s for s in of_kind(docs, "Service") if s["spec"].get("clusterIP") != "None")
        expect(tm["metadata"]["name"] == module, f"TinyModule name {tm['metadata']['name']}, want {module}")
        expect(tm["spec"]["image"] == dep["spec"]["template"]["spec"]["containers"][0]["image"], "spec.image differs from the Deployment's image")
        expect(tm["spec"]["replicas"] == dep["spec"]["replicas"], "spec.replicas differs from the Deployment's")
        want = f"{svc['metadata']['name']}.{namespace}.svc:{port}"
        expect(tm["spec"]["address"] == want, f"spec.address {tm['spec']['address']}, want {want}")
        expect(svc["spec"]["ports"][0]["port"] == port, "Service port")
        return tm

    module_default = render(MODULE, "common", mod_ci("default-values.yaml"), namespace="flows")

    @check("module defaults: expected kinds")
    def _():
        want = ["Deployment", "Pod", "PodDisruptionBudget", "Role", "RoleBinding", "Service", "Service", "ServiceAccount", "TinyModule"]
        expect(kinds(module_default) == want, f"kinds {kinds(module_default)}, want {want}")

    @check("module defaults: TinyModule validates against the CRD schema and names the Service")
    def _():
        tm = check_tinymodule(module_default, "common", "flows", 9000)
        expect(tm["spec"]["address"] == "tinyflow-common.flows.svc:9000", tm["spec"]["address"])
        expect(tm["spec"]["version"] == "0.1.0", f"version {tm['spec']['version']}")

    @check("module: the CRD schema check catches a wrong TinyModule (validator sanity)")
    def _():
        tm = json.loads(json.dumps(one(module_default, "TinyModule")))
        tm["spec"]["replicas"] = "two"
        try:
            jsonschema.validate(tm, tinymodule_schema)
        except jsonschema.ValidationError:
            return
        raise AssertionError("a TinyModule with replicas: 'two' passed the CRD schema")

    @check("module defaults: the embedded control plane accepts the rendered TinyModule through kubectl")
    def _():
        binary = os.path.join(ROOT, ".build", "debug", "tinyflow")
        expect(os.path.exists(binary), "build tinyflow first (make build): .build/debug/tinyflow is missing")
        tm = one(module_default, "TinyModule")
        with tempfile.TemporaryDirectory() as tmp:
            kubeconfig = os.path.join(tmp, "kubeconfig")
            server = subprocess.Popen(
                [binary, "control-plane", "--listen", "127.0.0.1:0", "--data", os.path.join(tmp, "data"),
                 "--kubeconfig", kubeconfig],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                deadline = time.time() + 60
                while not os.path.exists(kubeconfig):
                    expect(server.poll() is None, "tinyflow control-plane exited early")
                    expect(time.time() < deadline, "no kubeconfig from tinyflow control-plane within 60 s")
                    time.sleep(0.1)
                kubectl = ["kubectl", "--kubeconfig", kubeconfig, "--cache-dir", os.path.join(tmp, "cache")]
                subprocess.run(kubectl + ["apply", "-f", os.path.join(ROOT, "crds")], check=True, capture_output=True)
                subprocess.run(kubectl + ["create", "namespace", tm["metadata"]["namespace"]], check=True, capture_output=True)
                manifest = json.dumps(tm)
                while True:
                    applied = subprocess.run(kubectl + ["apply", "-f", "-"], input=manifest, text=True, capture_output=True)
                    if applied.returncode == 0:
                        break
                    expect(time.time() < deadline, f"kubectl apply of the TinyModule failed: {applied.stderr}")
                    time.sleep(0.2)
                got = subprocess.run(
                    kubectl + ["get", "tinymodule", tm["metadata"]["name"], "-n", tm["metadata"]["namespace"], "-o", "json"],
                    check=True, capture_output=True, text=True)
                stored = json.loads(got.stdout)
                expect(stored["spec"]["address"] == tm["spec"]["address"], f"stored spec {stored['spec']}")
                wrong = json.loads(manifest)
                wrong["spec"]["replicas"] = "two"
                rejected = subprocess.run(kubectl + ["apply", "-f", "-"], input=json.dumps(wrong), text=True, capture_output=True)
                expect(rejected.returncode != 0 and "replicas" in rejected.stderr, f"a wrong TinyModule was accepted: {rejected.stderr}")
            finally:
                server.terminate()
                server.wait(timeout=20)

    @check("module defaults: module-host args, probes on the health port, security")
    def _():
        dep = one(module_default, "Deployment")
        args = args_of(dep)
        expect(flag(args, "--module") == "common", f"args {args}")
        expect(flag(args, "--listen") == "0.0.0.0:9000", f"args {args}")
        expect(flag(args, "--source-lease") == "tinyflow-common-sources", f"args {args}")
        expect(flag(args, "--health-address") == "0.0.0.0:8081", f"args {args}")
        expect(flag(args, "--tls-cert") is None, "TLS flags without tls.enabled")
        check_probes(dep, "health", 8081)
        check_pod_security(dep)
        expect(dep["spec"]["template"]["spec"]["automountServiceAccountToken"] is True, "module hosts need their token for the Lease")

    @check("module defaults: gRPC Service and headless Service select the hosts")
    def _():
        pod_labels = one(module_default, "Deployment")["spec"]["template"]["metadata"]["labels"]
        services = of_kind(module_default, "Service")
        headless = [s for s in services if s["spec"].get("clusterIP") == "None"]
        expect(len(headless) == 1, "one headless Service")
        for s in services:
            expect(selector_matches(s["spec"]["selector"], pod_labels), f"Service {s['metadata']['name']} does not select the pods")
            expect(s["spec"]["ports"][0]["targetPort"] == "grpc", "targets the gRPC port")

    @check("module defaults: Lease RBAC only, bound to the module's ServiceAccount")
    def _():
        role = one(module_default, "Role")
        expect(canonical(role["rules"]) == canonical([{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}]), f"rules {role['rules']}")
        expect(role["metadata"]["namespace"] == "flows", "Role namespace")
        binding = one(module_default, "RoleBinding")
        sa = one(module_default, "ServiceAccount")
        expect(binding["roleRef"]["name"] == role["metadata"]["name"], "roleRef")
        expect(binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "flows"}], f"subjects {binding['subjects']}")

    @check("module defaults: PodDisruptionBudget selects the hosts")
    def _():
        pdb = one(module_default, "PodDisruptionBudget")
        pod_labels = one(module_default, "Deployment")["spec"]["template"]["metadata"]["labels"]
        expect(selector_matches(pdb["spec"]["selector"]["matchLabels"], pod_labels), "PDB selector")
        expect(pdb["spec"]["maxUnavailable"] == 1, "maxUnavailable")

    module_tls = render(MODULE, "http", mod_ci("tls-values.yaml"), namespace="flows")

    @check("module TLS: Secret mounted read-only and --tls-cert/--tls-key/--tls-ca passed")
    def _():
        dep = one(module_tls, "Deployment")
        pod = dep["spec"]["template"]["spec"]
        volume = next(v for v in pod["volumes"] if v["name"] == "tls")
        expect(volume["secret"]["secretName"] == "http-module-tls", f"volume {volume}")
        mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "tls")
        expect(mount.get("readOnly") is True, "TLS mount must be read-only")
        args = args_of(dep)
        for f, key in (("--tls-cert", "tls.crt"), ("--tls-key", "tls.key"), ("--tls-ca", "ca.crt")):
            expect(flag(args, f) == f"{mount['mountPath']}/{key}", f"{f} {flag(args, f)}")
        check_pod_security(dep)

    @check("module TLS: custom ports, replicas, resources and version reach the TinyModule")
    def _():
        tm = check_tinymodule(module_tls, "http", "flows", 9443)
        expect(tm["spec"]["version"] == "1.2.3" and tm["spec"]["replicas"] == 3, f"spec {tm['spec']}")
        expect(tm["spec"]["image"] == "registry.example.com/acme/http-module:1.2.3", tm["spec"]["image"])
        dep = one(module_tls, "Deployment")
        check_probes(dep, "health", 9081)
        expect(flag(args_of(dep), "--listen") == "0.0.0.0:9443", "listen port")
        expect(one(module_tls, "PodDisruptionBudget")["spec"]["maxUnavailable"] == "25%", "PDB maxUnavailable")

    module_postgres = render(MODULE, "orders", mod_ci("postgres-values.yaml"), namespace="flows")

    @check("module postgres: the context store URL comes from the Secret as TINYFLOW_CONTEXT_STORE, never as an argument")
    def _():
        dep = one(module_postgres, "Deployment")
        container = dep["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        ref = env["TINYFLOW_CONTEXT_STORE"]["valueFrom"]["secretKeyRef"]
        expect(ref == {"name": "orders-context-db", "key": "uri"}, f"secretKeyRef {ref}")
        expect(flag(args_of(dep), "--context-store") is None, "the URL must not be an argument")
        expect(flag(args_of(dep), "--context-max-keys-per-scope") == "10000", "the key limit reaches the host")
        pod = dep["spec"]["template"]["spec"]
        volume = next(v for v in pod["volumes"] if v["name"] == "postgres-ca")
        expect(volume["secret"]["secretName"] == "orders-context-db-ca", f"volume {volume}")
        mount = next(m for m in container["volumeMounts"] if m["name"] == "postgres-ca")
        expect(mount["mountPath"] == "/etc/tinyflow/postgres" and mount.get("readOnly") is True, f"mount {mount}")
        check_pod_security(dep)

    @check("module defaults: context in memory, no store variable and no database volume")
    def _():
        dep = one(module_default, "Deployment")
        container = dep["spec"]["template"]["spec"]["containers"][0]
        expect("TINYFLOW_CONTEXT_STORE" not in {e["name"] for e in container["env"]}, "memory needs no variable")
        expect(all(v["name"] != "postgres-ca" for v in dep["spec"]["template"]["spec"]["volumes"]), "no CA volume")

    @check("module: context.store postgres without context.postgres.existingSecret is refused")
    def _():
        proc = helm("template", "x", MODULE, "--set", "module=x,image.repository=a,context.store=postgres", ok=False)
        expect(proc.returncode != 0 and "context.postgres.existingSecret is required" in proc.stderr, proc.stderr)

    @check("module: values.schema.json rejects an unknown context store")
    def _():
        proc = helm("template", "x", MODULE, "--set", "module=x,image.repository=a,context.store=redis", ok=False)
        expect(proc.returncode != 0 and "context.store" in proc.stderr, proc.stderr)

    @check("module: the documented --set install renders")
    def _():
        docs = render(MODULE, "common", sets=["module=common", "image.repository=ghcr.io/tinyflow/tinyflow-module-host"], namespace="default")
        check_tinymodule(docs, "common", "default", 9000)

    @check('module: values.schema.json rejects replicas: "two"')
    def _():
        expect_schema_rejection(MODULE, os.path.join(FIXTURES, "bad-replicas-values.yaml"), "replicas: Invalid type. Expected: integer, given: string")

    @check("module: a missing module name is refused with a clear message")
    def _():
        proc = helm("template", "x", MODULE, "--set", "image.repository=a", ok=False)
        expect(proc.returncode != 0 and "module: String length must be greater than or equal to 1" in proc.stderr, proc.stderr)

    @check("module: tls.enabled without tls.secretName is refused")
    def _():
        proc = helm("template", "x", MODULE, "--set", "module=x,image.repository=a,tls.enabled=true", ok=False)
        expect(proc.returncode != 0 and "tls.secretName is required" in proc.stderr, proc.stderr)

    @check("helm test Pods: hooks with the same security settings")
    def _():
        for docs in (default, module_default):
            pod = one(docs, "Pod")
            expect(pod["metadata"]["annotations"].get("helm.sh/hook") == "test", "not a test hook")
            check_pod_security(pod)

    @check("operator: the helm test Pod reads /readyz through the metrics Service")
    def _():
        pod = one(default, "Pod")
        svc = one(default, "Service")
        script = " ".join(pod["spec"]["containers"][0]["args"])
        expect(f"http://{svc['metadata']['name']}:{svc['spec']['ports'][0]['port']}/readyz" in script, script)

    # --- every rendered object against the Kubernetes API schemas ---------------------------
    scenarios = {
        "operator defaults": default,
        "operator namespaced": namespaced,
        "operator monitoring": monitoring,
        "module defaults": module_default,
        "module postgres": module_postgres,
        "module TLS": module_tls,
    }
    if options.k8s_schemas:
        versions = sorted(d[1 : -len("-local-strict")] for d in os.listdir(options.k8s_schemas) if d.endswith("-local-strict"))
        for version in versions:
            validate = k8s_validator(options.k8s_schemas, version)
            for label, docs in scenarios.items():

                @check(f"{label}: every built-in object is valid for Kubernetes {version} (strict schema)")
                def _():
                    validated = [d["kind"] for d in docs if validate(d)]
                    custom = sorted({d["kind"] for d in docs} - set(validated))
                    expect(set(custom) <= {"TinyModule", "ServiceMonitor"}, f"no schema for {custom}")

            @check(f"Kubernetes {version} schema check catches an unknown field (validator sanity)")
            def _():
                bad = json.loads(json.dumps(one(default, "Deployment")))
                bad["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "A", "valu": "b"})
                try:
                    validate(bad)
                except AssertionError as error:
                    expect("valu" in str(error), str(error))
                    return
                raise AssertionError("a container env entry with an unknown field passed")

    # --- packaging and Dockerfiles -------------------------------------------------------

    @check("helm package both charts")
    def _():
        import tempfile

        with tempfile.TemporaryDirectory() as out:
            helm("package", OPERATOR, MODULE, "--destination", out)
            names = sorted(os.listdir(out))
            expect(names == ["tinyflow-module-0.1.0.tgz", "tinyflow-operator-0.1.0.tgz"], f"packaged {names}")

    dockerfiles = [os.path.join(ROOT, "images", f) for f in sorted(os.listdir(os.path.join(ROOT, "images"))) if f.endswith("Dockerfile")] if os.path.isdir(os.path.join(ROOT, "images")) else []
    template_dockerfile = os.path.join(ROOT, "templates", "module", "Dockerfile")
    if os.path.exists(template_dockerfile):
        dockerfiles.append(template_dockerfile)
    for dockerfile in dockerfiles:
        rel = os.path.relpath(dockerfile, ROOT)

        @check(f"{rel}: non-root runtime stage, multi-stage static-stdlib build")
        def _():
            text = open(dockerfile).read()
            args = dict(re.findall(r"^ARG\s+(\w+)=(\S*)", text, re.M))
            stages = [re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), s) for s in re.findall(r"^FROM\s+(\S+)", text, re.M)]
            expect(len(stages) >= 2, "must be multi-stage")
            expect(stages[0].startswith("swift:6.3"), f"builder {stages[0]}")
            expect("--static-swift-stdlib" in text and "-c release" in text, "swift build -c release --static-swift-stdlib")
            last = text[text.rindex("\nFROM") :]
            users = re.findall(r"^USER\s+(\S+)", last, re.M)
            expect(users and users[-1] not in ("root", "0", "0:0"), "runtime stage must end as a non-root USER")
            expect(re.search(r"^ENTRYPOINT\s+\[", last, re.M), "exec-form ENTRYPOINT")

        if options.hadolint:

            @check(f"hadolint {rel}")
            def _():
                proc = subprocess.run([options.hadolint, "--config", os.path.join(ROOT, ".hadolint.yaml"), dockerfile], capture_output=True, text=True)
                expect(proc.returncode == 0, proc.stdout + proc.stderr)

    shellcheck = shutil.which("shellcheck")
    if shellcheck:

        @check("shellcheck scripts/*.sh .ci/run")
        def _():
            scripts = sorted(os.path.join(ROOT, "scripts", f) for f in os.listdir(os.path.join(ROOT, "scripts")) if f.endswith(".sh"))
            proc = subprocess.run([shellcheck, *scripts, os.path.join(ROOT, ".ci", "run")], capture_output=True, text=True)
            expect(proc.returncode == 0, proc.stdout + proc.stderr)

    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
