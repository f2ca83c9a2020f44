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
by values.schema.json with its message. Mutual TLS and NetworkPolicies: the
--tls-* arguments and read-only mounts, certificates chaining to their CA with
the right usages (python cryptography, else openssl), cert-manager objects
field by field, the policies' exact peers, and `lookup` (CA reuse, renewal,
rotation, refusing without a CA) through `helm template --dry-run=server`
against `tinyflow control-plane`. Ends with `N passed, N failed`.
"""

import argparse
import base64
import hashlib
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


# --- mutual TLS ---------------------------------------------------------------------

TLS_MOUNT = "/etc/tinyflow/tls"


def secret_data(secret):
    """A Secret's data, base64-decoded to text."""
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def tls_volume(deployment):
    """The Secret behind the pod's `tls` volume and the container's mount of it (or None, None)."""
    pod = deployment["spec"]["template"]["spec"]
    volume = next((v for v in pod.get("volumes", []) if v["name"] == "tls"), None)
    mount = next((m for m in pod["containers"][0].get("volumeMounts", []) if m["name"] == "tls"), None)
    return volume, mount


def check_tls_wiring(deployment, secret_name, keys=("tls.crt", "tls.key", "ca.crt")):
    """The Secret is mounted read-only at /etc/tinyflow/tls and --tls-cert/--tls-key/--tls-ca name its keys."""
    volume, mount = tls_volume(deployment)
    expect(volume is not None and mount is not None, "no tls volume or mount")
    expect(volume["secret"]["secretName"] == secret_name, f"tls volume from {volume['secret']['secretName']}, want {secret_name}")
    expect(volume["secret"].get("defaultMode") == 0o440, f"tls volume mode {volume['secret'].get('defaultMode')}")
    expect(mount["mountPath"] == TLS_MOUNT and mount.get("readOnly") is True, f"tls mount {mount}")
    args = args_of(deployment)
    for f, key in zip(("--tls-cert", "--tls-key", "--tls-ca"), keys):
        expect(flag(args, f) == f"{TLS_MOUNT}/{key}", f"{f} {flag(args, f)}, want {TLS_MOUNT}/{key}")
    expect("--allow-unauthenticated" not in args, "--allow-unauthenticated with TLS on")


def check_no_tls(deployment):
    args = args_of(deployment)
    for f in ("--tls-cert", "--tls-key", "--tls-ca"):
        expect(flag(args, f) is None, f"{f} without TLS")
    expect(tls_volume(deployment) == (None, None), "a tls volume without TLS")


def check_signed(cert_pem, ca_pem, usages, dns_names=()):
    """cert_pem is a leaf directly signed by ca_pem (a CA), valid now, with these extended key
    usages ("serverAuth", "clientAuth") and at least these DNS names."""
    try:
        from cryptography import x509
        from cryptography.x509.oid import ExtendedKeyUsageOID
    except ImportError:  # fall back to the openssl command
        with tempfile.TemporaryDirectory() as tmp:
            open(os.path.join(tmp, "ca.pem"), "w").write(ca_pem)
            open(os.path.join(tmp, "leaf.pem"), "w").write(cert_pem)
            for usage in usages:
                purpose = {"serverAuth": "sslserver", "clientAuth": "sslclient"}[usage]
                proc = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(tmp, "ca.pem"), "-purpose", purpose, os.path.join(tmp, "leaf.pem")], capture_output=True, text=True)
                expect(proc.returncode == 0, f"openssl verify ({purpose}): {proc.stdout}{proc.stderr}")
            if dns_names:
                text = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", os.path.join(tmp, "leaf.pem")], capture_output=True, text=True).stdout
                for name in dns_names:
                    expect(f"DNS:{name}" in text, f"certificate lacks DNS:{name}: {text}")
        return
    import datetime

    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    leaf = x509.load_pem_x509_certificate(cert_pem.encode())
    expect(ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca, "the CA certificate is not a CA")
    leaf.verify_directly_issued_by(ca)  # raises when the signature or issuer does not match
    expect(not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca, "the leaf certificate is a CA")
    now = datetime.datetime.now(datetime.timezone.utc)
    expect(leaf.not_valid_before_utc <= now + datetime.timedelta(minutes=5) < leaf.not_valid_after_utc, "the certificate is not valid now")
    ekus = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    oids = {"serverAuth": ExtendedKeyUsageOID.SERVER_AUTH, "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH}
    for usage in usages:
        expect(oids[usage] in ekus, f"the certificate lacks the {usage} extended key usage")
    if dns_names:
        sans = set(leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName))
        expect(set(dns_names) <= sans, f"certificate names {sorted(sans)}, want at least {sorted(dns_names)}")


# cert-manager.io/v1 has no schema in the Kubernetes API schemas: the fields the charts may use,
# from cert-manager's CRDs (spec keys, the usages enum), checked by hand instead.
CERT_MANAGER_SPEC_KEYS = {
    "Certificate": {"secretName", "commonName", "dnsNames", "ipAddresses", "uris", "emailAddresses", "duration",
                    "renewBefore", "usages", "isCA", "issuerRef", "privateKey", "subject", "secretTemplate"},
    "Issuer": {"selfSigned", "ca"},
    "ClusterIssuer": {"selfSigned", "ca"},
}
CERT_MANAGER_USAGES = {"signing", "digital signature", "content commitment", "key encipherment", "key agreement",
                       "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
                       "server auth", "client auth", "code signing", "email protection", "s/mime",
                       "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing"}


def check_cert_manager_object(doc):
    """A cert-manager object: apiVersion, namespace rules, known spec fields and values."""
    kind = doc["kind"]
    where = f"{kind} {doc['metadata']['name']}"
    expect(doc["apiVersion"] == "cert-manager.io/v1", f"{where}: apiVersion {doc['apiVersion']}")
    expect(("namespace" in doc["metadata"]) == (kind != "ClusterIssuer"), f"{where}: namespace must be set exactly for namespaced kinds")
    spec = doc["spec"]
    expect(set(spec) <= CERT_MANAGER_SPEC_KEYS[kind], f"{where}: unknown spec fields {sorted(set(spec) - CERT_MANAGER_SPEC_KEYS[kind])}")
    if kind != "Certificate":
        expect(len(spec) == 1, f"{where}: exactly one issuer type")
        return
    expect(re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", spec["secretName"]), f"{where}: secretName {spec['secretName']}")
    ref = spec["issuerRef"]
    expect(set(ref) <= {"name", "kind", "group"} and ref.get("name"), f"{where}: issuerRef {ref}")
    expect(ref.get("kind", "Issuer") in ("Issuer", "ClusterIssuer") and ref.get("group", "cert-manager.io") == "cert-manager.io", f"{where}: issuerRef {ref}")
    for field in ("duration", "renewBefore"):
        if field in spec:
            expect(re.fullmatch(r"([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+", str(spec[field])), f"{where}: {field} {spec[field]} is no Go duration")
    expect(set(spec.get("usages", [])) <= CERT_MANAGER_USAGES, f"{where}: usages {spec.get('usages')}")
    key = spec.get("privateKey", {})
    expect(set(key) <= {"algorithm", "size", "encoding", "rotationPolicy"}, f"{where}: privateKey {key}")
    expect(key.get("algorithm", "RSA") in ("RSA", "ECDSA", "Ed25519"), f"{where}: privateKey.algorithm")
    expect(key.get("rotationPolicy", "Always") in ("Never", "Always"), f"{where}: privateKey.rotationPolicy")


class EmbeddedControlPlane:
    """`tinyflow control-plane` on a free port with a kubeconfig: a Kubernetes API with
    Namespaces and Secrets, enough for `helm template --dry-run=server` (lookup) and kubectl."""

    def __init__(self, tmp):
        binary = os.path.join(ROOT, ".build", "debug", "tinyflow")
        expect(os.path.exists(binary), "build tinyflow first (make build): .build/debug/tinyflow is missing")
        self.tmp = tmp
        self.kubeconfig = os.path.join(tmp, "kubeconfig")
        self.server = subprocess.Popen(
            [binary, "control-plane", "--listen", "127.0.0.1:0", "--data", os.path.join(tmp, "data"), "--kubeconfig", self.kubeconfig],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while not os.path.exists(self.kubeconfig):
            expect(self.server.poll() is None, "tinyflow control-plane exited early")
            expect(time.time() < deadline, "no kubeconfig from tinyflow control-plane within 60 s")
            time.sleep(0.1)
        while self.kubectl("get", "namespace", "kube-system", ok=False).returncode != 0:
            expect(time.time() < deadline, "the control plane has no kube-system Namespace within 60 s")
            time.sleep(0.2)

    def kubectl(self, *args, input=None, ok=True):
        command = [os.path.join(os.path.dirname(HELM), "kubectl") if os.path.exists(os.path.join(os.path.dirname(HELM), "kubectl")) else "kubectl",
                   "--kubeconfig", self.kubeconfig, "--cache-dir", os.path.join(self.tmp, "cache"), *args]
        proc = subprocess.run(command, input=input, capture_output=True, text=True)
        if ok and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def apply(self, *docs):
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))

    def render(self, chart, release, namespace, sets=(), ok=True):
        """helm template --dry-run=server: lookup reads this control plane."""
        args = ["template", release, chart, "--namespace", namespace, "--dry-run=server", "--kubeconfig", self.kubeconfig]
        for s in sets:
            args += ["--set", s]
        proc = helm(*args, ok=ok)
        return proc if not ok else [d for d in yaml.safe_load_all(proc.stdout) if d]

    def close(self):
        self.server.terminate()
        self.server.wait(timeout=20)


def as_installed(doc, release, namespace):
    """A rendered object as `helm install` stores it: with Helm's ownership annotations."""
    doc = json.loads(json.dumps(doc))
    annotations = doc["metadata"].setdefault("annotations", {})
    annotations["meta.helm.sh/release-name"] = release
    annotations["meta.helm.sh/release-namespace"] = namespace
    doc["metadata"].setdefault("labels", {})["app.kubernetes.io/managed-by"] = "Helm"
    return doc


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
        want = ["ClusterRole", "ClusterRoleBinding", "Deployment", "NetworkPolicy", "Pod", "PodDisruptionBudget", "Secret", "Secret", "Service", "Service", "ServiceAccount"]
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
        expect(flag(args, "--debug-address") == "0.0.0.0:8081", f"--debug-address {flag(args, '--debug-address')}")
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
        svc = one(default, "Service", "tinyflow-operator-metrics")
        pod_labels = one(default, "Deployment")["spec"]["template"]["metadata"]["labels"]
        expect(selector_matches(svc["spec"]["selector"], pod_labels), "Service selector does not match the pods")
        expect(svc["spec"]["ports"][0]["targetPort"] == "metrics", "Service targets another port")

    @check("operator defaults: the debug Service is named like the release (tinyflow-system/tinyflow-operator:debug) and targets the debug port")
    def _():
        svc = one(default, "Service", "tinyflow-operator")
        dep = one(default, "Deployment")
        pod_labels = dep["spec"]["template"]["metadata"]["labels"]
        expect(selector_matches(svc["spec"]["selector"], pod_labels), "the debug Service does not select the operator pods")
        expect(svc["spec"]["ports"] == [{"name": "debug", "port": 8081, "targetPort": "debug", "protocol": "TCP"}], f"ports {svc['spec']['ports']}")
        ports = dep["spec"]["template"]["spec"]["containers"][0]["ports"]
        expect({"name": "debug", "containerPort": 8081, "protocol": "TCP"} in ports, f"container ports {ports}")
        # A release named tinyflow-operator gets the same name: the console's default --operator-service.
        docs = render(OPERATOR, "tinyflow-operator")
        expect(one(docs, "Service", "tinyflow-operator")["spec"]["ports"][0]["name"] == "debug", "release tinyflow-operator")

    @check("operator debug.enabled=false: no --debug-address, no debug port, no debug Service")
    def _():
        docs = render(OPERATOR, "tinyflow", sets=["debug.enabled=false", "networkPolicy.debugFrom[0].ipBlock.cidr=10.0.0.0/24"])
        dep = one(docs, "Deployment")
        expect(flag(args_of(dep), "--debug-address") is None, f"args {args_of(dep)}")
        expect([p["name"] for p in dep["spec"]["template"]["spec"]["containers"][0]["ports"]] == ["metrics"], "container ports")
        expect([s["metadata"]["name"] for s in of_kind(docs, "Service")] == ["tinyflow-operator-metrics"], "Services")
        expect(len(one(docs, "NetworkPolicy")["spec"]["ingress"]) == 1, "a debug ingress rule without the debug endpoint")

    # --- operator: mutual TLS and NetworkPolicy ------------------------------------------

    @check("operator defaults: a CA Secret (genCA, kept on uninstall) and a client certificate Secret signed by it")
    def _():
        ca = one(default, "Secret", "tinyflow-ca")
        expect(ca["metadata"]["namespace"] == NAMESPACE and ca["type"] == "Opaque", f"CA Secret {ca['metadata']}, type {ca['type']}")
        expect(ca["metadata"]["annotations"].get("helm.sh/resource-policy") == "keep", "the CA must survive helm uninstall")
        ca_data = secret_data(ca)
        expect(sorted(ca_data) == ["ca.crt", "ca.key"], f"CA keys {sorted(ca_data)}")
        client = one(default, "Secret", "tinyflow-operator-tls")
        expect(client["type"] == "kubernetes.io/tls", f"client Secret type {client['type']}")
        data = secret_data(client)
        expect(sorted(data) == ["ca.crt", "tls.crt", "tls.key"], f"client Secret keys {sorted(data)}")
        expect(data["ca.crt"] == ca_data["ca.crt"], "the client Secret's ca.crt is not the CA")
        check_signed(data["tls.crt"], ca_data["ca.crt"], ["clientAuth"])
        annotations = client["metadata"]["annotations"]
        expect(annotations["tinyflow.dev/ca-sha256"] == hashlib.sha256(ca_data["ca.crt"].encode()).hexdigest(), "tinyflow.dev/ca-sha256")
        expect(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", annotations["tinyflow.dev/not-after"]), annotations["tinyflow.dev/not-after"])

    @check("operator defaults: the client certificate mounted read-only and passed as --tls-cert/--tls-key/--tls-ca; pods roll on a new one")
    def _():
        dep = one(default, "Deployment")
        check_tls_wiring(dep, "tinyflow-operator-tls")
        crt = secret_data(one(default, "Secret", "tinyflow-operator-tls"))["tls.crt"]
        checksum = dep["spec"]["template"]["metadata"]["annotations"]["checksum/tls"]
        expect(checksum == hashlib.sha256(crt.encode()).hexdigest(), "checksum/tls is not the rendered certificate's (generated twice?)")
        check_pod_security(dep)

    @check("operator defaults: NetworkPolicy admits ingress to the operator pods on the metrics port only, from anywhere (the debug port from nobody)")
    def _():
        policy = one(default, "NetworkPolicy")
        pod_labels = one(default, "Deployment")["spec"]["template"]["metadata"]["labels"]
        expect(selector_matches(policy["spec"]["podSelector"]["matchLabels"], pod_labels), "the policy does not select the operator pods")
        expect(policy["spec"]["policyTypes"] == ["Ingress"], f"policyTypes {policy['spec']['policyTypes']} (egress is not restricted)")
        expect(policy["spec"]["ingress"] == [{"ports": [{"port": 8080, "protocol": "TCP"}]}], f"ingress {policy['spec']['ingress']}")

    op_cert_manager = render(OPERATOR, "tinyflow", op_ci("cert-manager-values.yaml"))

    @check("operator certManager: self-signed Issuer, CA Certificate and CA ClusterIssuer, no genCA Secrets")
    def _():
        want = ["Certificate", "Certificate", "ClusterIssuer", "ClusterRole", "ClusterRoleBinding", "Deployment", "Issuer", "NetworkPolicy", "Pod", "PodDisruptionBudget", "Service", "Service", "ServiceAccount"]
        expect(kinds(op_cert_manager) == want, f"kinds {kinds(op_cert_manager)}, want {want}")
        for doc in op_cert_manager:
            if doc["apiVersion"].startswith("cert-manager.io/"):
                check_cert_manager_object(doc)
        selfsigned = one(op_cert_manager, "Issuer")
        expect(selfsigned["metadata"]["namespace"] == "cert-manager" and selfsigned["spec"] == {"selfSigned": {}}, f"Issuer {selfsigned}")
        ca = one(op_cert_manager, "Certificate", "tinyflow-ca")
        expect(ca["metadata"]["namespace"] == "cert-manager", "the CA Certificate must be in cert-manager's cluster resource namespace")
        expect(ca["spec"]["isCA"] is True and ca["spec"]["secretName"] == "tinyflow-ca", f"CA Certificate {ca['spec']}")
        expect(ca["spec"]["issuerRef"] == {"group": "cert-manager.io", "kind": "Issuer", "name": selfsigned["metadata"]["name"]}, f"issuerRef {ca['spec']['issuerRef']}")
        issuer = one(op_cert_manager, "ClusterIssuer")
        expect(issuer["metadata"]["name"] == "tinyflow-ca" and issuer["spec"] == {"ca": {"secretName": ca["spec"]["secretName"]}}, f"ClusterIssuer {issuer}")

    @check("operator certManager: the client Certificate from the ClusterIssuer is mounted and passed; no checksum")
    def _():
        cert = one(op_cert_manager, "Certificate", "tinyflow-operator")
        expect(cert["metadata"]["namespace"] == NAMESPACE, "client Certificate namespace")
        expect(cert["spec"]["issuerRef"] == {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "tinyflow-ca"}, f"issuerRef {cert['spec']['issuerRef']}")
        expect("client auth" in cert["spec"]["usages"] and not cert["spec"].get("isCA"), f"usages {cert['spec']['usages']}")
        expect(cert["spec"]["duration"] == "2160h" and cert["spec"]["renewBefore"] == "360h", "duration/renewBefore from values")
        expect(cert["spec"].get("dnsNames") == ["operator.tinyflow.dev"], f"the name module hosts require of control calls: {cert['spec'].get('dnsNames')}")
        dep = one(op_cert_manager, "Deployment")
        check_tls_wiring(dep, cert["spec"]["secretName"])
        expect("checksum/tls" not in (dep["spec"]["template"]["metadata"].get("annotations") or {}), "cert-manager renews: no checksum")

    @check("operator certManager: NetworkPolicy admits the metrics port from networkPolicy.metricsFrom, the debug port from networkPolicy.debugFrom only")
    def _():
        policy = one(op_cert_manager, "NetworkPolicy")
        want = [
            {"ports": [{"port": 8080, "protocol": "TCP"}], "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]},
            {"ports": [{"port": 8081, "protocol": "TCP"}], "from": [{"ipBlock": {"cidr": "172.16.0.0/28"}}]},
        ]
        expect(policy["spec"]["ingress"] == want, f"ingress {policy['spec']['ingress']}")

    op_no_mtls = render(OPERATOR, "tinyflow", sets=["mtls.enabled=false", "networkPolicy.enabled=false"])

    @check("operator mtls.enabled=false: no TLS flags, volume, Secrets or Certificates; networkPolicy.enabled=false: no NetworkPolicy")
    def _():
        check_no_tls(one(op_no_mtls, "Deployment"))
        for kind in ("Secret", "Certificate", "Issuer", "ClusterIssuer", "NetworkPolicy"):
            expect(not of_kind(op_no_mtls, kind), f"a {kind} with mtls.enabled=false")

    @check("operator mtls.existingSecret: your Secret is mounted, no CA and no certificate are made")
    def _():
        docs = render(OPERATOR, "tinyflow", sets=["mtls.existingSecret=operator-client-tls"])
        check_tls_wiring(one(docs, "Deployment"), "operator-client-tls")
        expect(not of_kind(docs, "Secret") and not of_kind(docs, "Certificate"), "nothing generated with mtls.existingSecret")

    for key in ("mtls.bogus=1", "mtls.ca.bogus=1", "certManager.bogus=1", "networkPolicy.bogus=1", "networkPolicy.metricsFrom[0].bogus=1",
                "debug.bogus=1", "networkPolicy.debugFrom[0].bogus=1"):

        @check(f"operator: values.schema.json rejects an unknown key: {key.split('=')[0]}")
        def _():
            proc = helm("template", "t", OPERATOR, "--set", key, ok=False)
            expect(proc.returncode != 0 and "bogus" in proc.stderr and "not allowed" in proc.stderr, proc.stderr)

    @check("operator: values.schema.json rejects a certManager.duration that is no Go duration")
    def _():
        proc = helm("template", "t", OPERATOR, "--set", "certManager.duration=1 year", ok=False)
        expect(proc.returncode != 0 and "certManager.duration" in proc.stderr, proc.stderr)

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
        svc = one(monitoring, "Service", "tinyflow-operator-metrics")
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
        want = ["Deployment", "NetworkPolicy", "Pod", "PodDisruptionBudget", "Role", "RoleBinding", "Secret", "Service", "Service", "ServiceAccount", "TinyModule"]
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
        check_tls_wiring(dep, "tinyflow-common-tls")
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

    @check("module defaults: Lease RBAC and read-only Secrets/ConfigMaps of its namespace, bound to the module's ServiceAccount")
    def _():
        role = one(module_default, "Role")
        want = [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
            # ${secret:…}/${configmap:…} references: read, list and watch only, in the release namespace.
            {"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["get", "list", "watch"]},
        ]
        expect(canonical(role["rules"]) == canonical(want), f"rules {role['rules']}")
        for rule in role["rules"]:
            expect(not ({"create", "update", "patch", "delete", "*"} & set(rule["verbs"])) or rule["resources"] == ["leases"],
                   f"module hosts must not write {rule['resources']}")
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

    # --- module: mutual TLS and NetworkPolicy --------------------------------------------

    @check("module defaults: a certificate signed by the chart (no cluster: a throwaway CA) for the module's Services")
    def _():
        secret = one(module_default, "Secret", "tinyflow-common-tls")
        expect(secret["type"] == "kubernetes.io/tls" and secret["metadata"]["namespace"] == "flows", f"Secret {secret['metadata']} {secret['type']}")
        data = secret_data(secret)
        expect(sorted(data) == ["ca.crt", "tls.crt", "tls.key"], f"keys {sorted(data)}")
        # the host serves the operator and its peers and calls its peers: both usages
        check_signed(data["tls.crt"], data["ca.crt"], ["serverAuth", "clientAuth"],
                     ["tinyflow-common", "tinyflow-common.flows.svc", "tinyflow-common-headless.flows.svc"])
        dep = one(module_default, "Deployment")
        expect(dep["spec"]["template"]["metadata"]["annotations"]["checksum/tls"] == hashlib.sha256(data["tls.crt"].encode()).hexdigest(), "checksum/tls")

    @check("module defaults: NetworkPolicy: gRPC only from operator and module-host pods (any namespace), health from anywhere")
    def _():
        policy = one(module_default, "NetworkPolicy")
        pod_labels = one(module_default, "Deployment")["spec"]["template"]["metadata"]["labels"]
        expect(selector_matches(policy["spec"]["podSelector"]["matchLabels"], pod_labels), "the policy does not select the hosts")
        expect(policy["spec"]["policyTypes"] == ["Ingress"], f"policyTypes {policy['spec']['policyTypes']} (egress is not restricted)")
        peer = lambda component: {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "tinyflow", "app.kubernetes.io/component": component}}}  # noqa: E731
        want = [
            {"ports": [{"port": 9000, "protocol": "TCP"}], "from": [peer("operator"), peer("module-host")]},
            {"ports": [{"port": 8081, "protocol": "TCP"}]},
        ]
        expect(policy["spec"]["ingress"] == want, f"ingress {policy['spec']['ingress']}")
        # The peers are exactly the two charts' pods: the operator's and every module's hosts, not the helm test Pods.
        grpc_from = [p["podSelector"]["matchLabels"] for p in want[0]["from"]]
        operator_pods = one(default, "Deployment")["spec"]["template"]["metadata"]["labels"]
        for name, labels in (("operator", operator_pods), ("module host", pod_labels), ("other module host", one(module_tls, "Deployment")["spec"]["template"]["metadata"]["labels"])):
            expect(any(selector_matches(sel, labels) for sel in grpc_from), f"the {name} pods are not admitted to the gRPC port")
        for docs in (default, module_default):
            test_pod = one(docs, "Pod")["metadata"]["labels"]
            expect(not any(selector_matches(sel, test_pod) for sel in grpc_from), "a helm test Pod is admitted to the gRPC port")

    module_cert_manager = render(MODULE, "web", mod_ci("cert-manager-values.yaml"), namespace="flows")

    @check("module certManager: a Certificate from the operator chart's ClusterIssuer, mounted; no generated Secret")
    def _():
        expect(not of_kind(module_cert_manager, "Secret"), "no chart-signed Secret with certManager.enabled")
        cert = one(module_cert_manager, "Certificate")
        check_cert_manager_object(cert)
        issuer = one(op_cert_manager, "ClusterIssuer")
        expect(cert["spec"]["issuerRef"] == {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": issuer["metadata"]["name"]}, f"issuerRef {cert['spec']['issuerRef']}")
        expect({"server auth", "client auth"} <= set(cert["spec"]["usages"]), f"usages {cert['spec']['usages']}")
        expect("tinyflow-web.flows.svc" in cert["spec"]["dnsNames"], f"dnsNames {cert['spec']['dnsNames']}")
        dep = one(module_cert_manager, "Deployment")
        check_tls_wiring(dep, cert["spec"]["secretName"])
        expect("checksum/tls" not in (dep["spec"]["template"]["metadata"].get("annotations") or {}), "no checksum with cert-manager")

    @check("module networkPolicy.extraIngress: the http-server port rule is added as given")
    def _():
        ingress = one(module_cert_manager, "NetworkPolicy")["spec"]["ingress"]
        expect(len(ingress) == 3, f"ingress {ingress}")
        want = {"ports": [{"port": 8080, "protocol": "TCP"}], "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]}
        expect(ingress[2] == want, f"extra rule {ingress[2]}")

    module_no_tls = render(MODULE, "dev", mod_ci("no-tls-values.yaml"), namespace="flows")

    @check("module tls.enabled=false: --allow-unauthenticated, no TLS flags, volume, Secret or Certificate; no NetworkPolicy when disabled")
    def _():
        dep = one(module_no_tls, "Deployment")
        check_no_tls(dep)
        expect("--allow-unauthenticated" in args_of(dep), f"args {args_of(dep)}")
        for kind in ("Secret", "Certificate", "NetworkPolicy"):
            expect(not of_kind(module_no_tls, kind), f"a {kind} with TLS and the NetworkPolicy off")

    @check("module tls.secretName wins over certManager.enabled and the chart-signed certificate")
    def _():
        docs = render(MODULE, "http", mod_ci("tls-values.yaml"), namespace="flows", sets=["certManager.enabled=true"])
        check_tls_wiring(one(docs, "Deployment"), "http-module-tls")
        expect(not of_kind(docs, "Certificate") and not of_kind(docs, "Secret"), "nothing generated with tls.secretName")
        expect(not of_kind(module_tls, "Certificate") and not of_kind(module_tls, "Secret"), "nothing generated with tls.secretName")
        policy = one(module_tls, "NetworkPolicy")
        expect([r["ports"][0]["port"] for r in policy["spec"]["ingress"]] == [9443, 9081], "the policy follows grpc.port and health.port")

    def check_lookups(cp):
        module_sets = ["module=common", "image.repository=ghcr.io/tinyflow/tinyflow-module-host"]
        for ns in (NAMESPACE, "flows", "byo"):
            cp.kubectl("create", "namespace", ns)
        # A cluster without the operator chart's CA: the module chart refuses with what to do.
        proc = cp.render(MODULE, "common", "flows", module_sets, ok=False)
        expect(proc.returncode != 0 and f"the CA Secret {NAMESPACE}/tinyflow-ca of the tinyflow-operator chart was not found" in proc.stderr
               and "Install the operator chart first" in proc.stderr, proc.stderr)
        # First install: a new CA and client certificate; "install" them as helm would.
        first = cp.render(OPERATOR, "tinyflow", NAMESPACE)
        ca, client = one(first, "Secret", "tinyflow-ca"), one(first, "Secret", "tinyflow-operator-tls")
        cp.apply(as_installed(ca, "tinyflow", NAMESPACE), as_installed(client, "tinyflow", NAMESPACE))
        # Upgrade: the same CA and the same (still valid) client certificate, so the pods do not roll.
        second = cp.render(OPERATOR, "tinyflow", NAMESPACE)
        expect(one(second, "Secret", "tinyflow-ca")["data"] == ca["data"], "helm upgrade regenerated the CA")
        expect(one(second, "Secret", "tinyflow-operator-tls")["data"] == client["data"], "helm upgrade re-signed a valid client certificate")
        checksum = lambda docs: one(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/tls"]  # noqa: E731
        expect(checksum(second) == checksum(first), "the operator pods would roll without a new certificate")
        ca_pem = secret_data(ca)["ca.crt"]
        # The module chart signs with that CA.
        module = cp.render(MODULE, "common", "flows", module_sets)
        host = one(module, "Secret", "tinyflow-common-tls")
        host_data = secret_data(host)
        expect(host_data["ca.crt"] == ca_pem, "the module's ca.crt is not the operator chart's CA")
        check_signed(host_data["tls.crt"], ca_pem, ["serverAuth", "clientAuth"])
        check_signed(secret_data(client)["tls.crt"], host_data["ca.crt"], ["clientAuth"])  # the host accepts the operator
        cp.apply(as_installed(host, "common", "flows"))
        expect(one(cp.render(MODULE, "common", "flows", module_sets), "Secret", "tinyflow-common-tls")["data"] == host["data"], "helm upgrade re-signed a valid module certificate")
        # Near expiry (within renewBeforeDays): a new certificate from the same CA.
        expiring = as_installed(host, "common", "flows")
        soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 10 * 86400))
        expiring["metadata"]["annotations"]["tinyflow.dev/not-after"] = soon
        cp.apply(expiring)
        renewed = one(cp.render(MODULE, "common", "flows", module_sets), "Secret", "tinyflow-common-tls")
        expect(secret_data(renewed)["tls.crt"] != host_data["tls.crt"], "a certificate expiring within renewBeforeDays was kept")
        check_signed(secret_data(renewed)["tls.crt"], ca_pem, ["serverAuth", "clientAuth"])
        # A CA Secret you made yourself (no Helm ownership): used, not rendered (so no ownership conflict).
        own_ca = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tinyflow-ca", "namespace": "byo"}, "type": "Opaque", "data": ca["data"]}
        cp.apply(own_ca)
        byo = cp.render(OPERATOR, "tinyflow", "byo")
        expect(not [d for d in of_kind(byo, "Secret") if d["metadata"]["name"] == "tinyflow-ca"], "the chart would take over a CA Secret it did not create")
        check_signed(secret_data(one(byo, "Secret", "tinyflow-operator-tls"))["tls.crt"], ca_pem, ["clientAuth"])
        # Rotating the CA (delete its Secret, upgrade): a new CA, and every certificate is re-signed by it.
        cp.kubectl("delete", "secret", "tinyflow-ca", "-n", NAMESPACE)
        rotated = cp.render(OPERATOR, "tinyflow", NAMESPACE)
        new_ca = secret_data(one(rotated, "Secret", "tinyflow-ca"))["ca.crt"]
        expect(new_ca != ca_pem, "no new CA after deleting the CA Secret")
        check_signed(secret_data(one(rotated, "Secret", "tinyflow-operator-tls"))["tls.crt"], new_ca, ["clientAuth"])
        expect(checksum(rotated) != checksum(first), "the operator pods must roll onto the new certificate")
        cp.apply(as_installed(one(rotated, "Secret", "tinyflow-ca"), "tinyflow", NAMESPACE))
        resigned = one(cp.render(MODULE, "common", "flows", module_sets), "Secret", "tinyflow-common-tls")
        expect(secret_data(resigned)["ca.crt"] == new_ca, "the module kept the old CA")
        check_signed(secret_data(resigned)["tls.crt"], new_ca, ["serverAuth", "clientAuth"])
        # A Secret by that name that is no CA: a clear failure, not a broken certificate.
        cp.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "not-a-ca", "namespace": NAMESPACE}, "data": {"x": "eA=="}})
        proc = cp.render(MODULE, "common", "flows", module_sets + ["tls.ca.secretName=not-a-ca"], ok=False)
        expect(proc.returncode != 0 and "lacks the keys ca.crt and ca.key" in proc.stderr, proc.stderr)

    @check("lookup (helm template --dry-run=server against tinyflow control-plane): the CA is reused, never regenerated; module certificates are signed by it")
    def _():
        with tempfile.TemporaryDirectory() as tmp:
            cp = EmbeddedControlPlane(tmp)
            try:
                check_lookups(cp)
            finally:
                cp.close()

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

    for key in ("tls.bogus=1", "tls.ca.bogus=1", "certManager.bogus=1", "certManager.issuerRef.bogus=1", "networkPolicy.bogus=1",
                "networkPolicy.extraIngress[0].bogus=1", "networkPolicy.extraIngress[0].from[0].bogus=1"):

        @check(f"module: values.schema.json rejects an unknown key: {key.split('=')[0]}")
        def _():
            proc = helm("template", "x", MODULE, "--set", f"module=x,image.repository=a,{key}", ok=False)
            expect(proc.returncode != 0 and "bogus" in proc.stderr and "not allowed" in proc.stderr, proc.stderr)

    @check("helm test Pods: hooks with the same security settings")
    def _():
        for docs in (default, module_default, module_no_tls):
            pod = one(docs, "Pod")
            expect(pod["metadata"]["annotations"].get("helm.sh/hook") == "test", "not a test hook")
            check_pod_security(pod)

    @check("module: the helm test Pod reads /readyz on the health port (admitted by the NetworkPolicy); the gRPC port only without the policy")
    def _():
        for docs, name, grpc in ((module_default, "tinyflow-common", False), (module_no_tls, "tinyflow-dev", True)):
            pod = one(docs, "Pod")
            script = " ".join(pod["spec"]["containers"][0]["command"] + pod["spec"]["containers"][0].get("args", []))
            expect(f"http://{name}-headless:8081/readyz" in script, script)
            expect(("nc -z" in script) == grpc, f"gRPC probe {'missing' if grpc else 'blocked by the NetworkPolicy'}: {script}")

    @check("operator: the helm test Pod reads /readyz through the metrics Service")
    def _():
        pod = one(default, "Pod")
        svc = one(default, "Service", "tinyflow-operator-metrics")
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
        "operator certManager": op_cert_manager,
        "operator without mTLS": op_no_mtls,
        "module certManager": module_cert_manager,
        "module without TLS": module_no_tls,
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
                    # custom resources: TinyModule (checked against its CRD above), ServiceMonitor, and
                    # cert-manager's kinds (check_cert_manager_object above)
                    expect(set(custom) <= {"TinyModule", "ServiceMonitor", "Certificate", "Issuer", "ClusterIssuer"}, f"no schema for {custom}")

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
