#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz corpora in Fuzz/Corpus/<target>/seed-*.

Seeds are real inputs: the repository's manifests, CRDs and test fixtures, the
expressions of docs/expressions.md and the expression tests, requests as kubectl
sends them, and wire frames encoded the way Sources/GRPCTransport/Internal/
BinaryCoding.swift encodes them. Run it again after changing those; inputs that
fuzzing found are committed next to the seeds (named after what they reproduce).
"""
import base64, glob, hashlib, json, os, re, struct
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "Fuzz", "Corpus")


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:60] or hashlib.sha1(data).hexdigest()[:12]
    with open(os.path.join(directory, "seed-" + safe), "wb") as f:
        f.write(data)


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


manifests = sorted(glob.glob("crds/*.yaml", root_dir=ROOT) + glob.glob("examples/*.yaml", root_dir=ROOT)
                   + glob.glob("Tests/ControlPlaneTests/Fixtures/*.yaml", root_dir=ROOT))

# --- YAML: manifests as they are, plus the shapes YAML can take.
for path in manifests:
    write("FuzzYAML", path, read(path))
yaml_cases = {
    "alias-bomb": "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: &d [*c, *c]\ne: [*d, *d]\n",
    "anchors-merge": "base: &base {a: 1, b: [1, 2]}\nderived:\n  <<: *base\n  c: 3\n",
    "multi-doc": "---\na: 1\n---\n# only a comment\n---\n- x\n- y\n...\n",
    "scalars": "i: 12\nf: 1.5e3\nh: 0x1F\no: 0o17\nn: ~\nb: true\ns: '123'\nq: \"\\u263A\\n\"\ninf: .inf\nnan: .NaN\nneg: -.inf\n",
    "block-scalars": "lit: |\n  line 1\n   line 2\nfold: >-\n  folded\n  text\nkeep: |+\n  x\n\n",
    "flow": "{a: [1, {b: c}], 'd e': \"f\", ? complex : key}\n",
    "tags": "a: !!str 12\nb: !!int '7'\nc: !custom x\nd: !!binary aGVsbG8=\n",
    "non-string-key": "1: a\n[x]: b\n",
    "deep": "a:\n" + "".join("  " * i + "- \n" for i in range(1, 40)),
    "empty": "",
}
for name, text in yaml_cases.items():
    write("FuzzYAML", name, text)

# --- JSON: the same documents as JSON, kubectl-style bodies, and the edges of the grammar.
for path in manifests:
    for index, document in enumerate(yaml.safe_load_all(read(path))):
        if document is None:
            continue
        text = json.dumps(document, separators=(",", ":"), sort_keys=True)
        if len(text) <= 4096:
            write("FuzzJSON", f"{path}-{index}", text)
json_cases = {
    "numbers": "[0,-0,1e2,1.0,-1.5E-3,9223372036854775807,-9223372036854775808,9223372036854775808,1e308,5e-324,0.1]",
    "strings": r'["", "\"\\\/\b\f\n\r\t", "\u00e9\u263a", "\ud83d\ude00", "plain ✓ text"]',
    "nesting": "[" * 40 + "{}" + "]" * 40,
    "objects": '{"a":{"b":{"c":[true,false,null]}},"a":1,"":""}',
    "whitespace": ' \t\n\r{ "k" : [ 1 , 2 ] } \n',
    "list": '{"kind":"List","apiVersion":"v1","items":[{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"x"},"data":{"k":"v"}}]}',
}
for name, text in json_cases.items():
    write("FuzzJSON", name, text)
for path in sorted(glob.glob(".tools/k8s-schemas/v1.25.0-local-strict/*-meta-v1.json", root_dir=ROOT))[:6]:
    data = read(path)
    if len(data) <= 4096:
        write("FuzzJSON", os.path.basename(path), data)

# --- Expressions: every expression in the documentation and the expression tests.
expressions = set()
doc = read("docs/expressions.md").decode()
for match in re.findall(r"\{\{(.*?)\}\}", doc):
    expressions.add(match.strip())
for match in re.findall(r"`([^`\n]+)`", doc):
    if any(c in match for c in "$()+*<>=?!") and len(match) < 200:
        expressions.add(match)
for path in sorted(glob.glob("Tests/ExpressionsTests/*.swift", root_dir=ROOT)):
    source = read(path).decode()
    for match in re.findall(r'(?:Expression|evaluate|compile|check)\(\s*"((?:[^"\\\n]|\\.)*)"', source):
        try:
            expressions.add(json.loads('"' + match + '"'))
        except ValueError:
            pass
    for match in re.findall(r'#"(.*?)"#', source):
        expressions.add(match)
expressions.update([
    "$.payload.items[0] + len($.payload.name)",
    "upper($.payload.name ?? 'anonymous')",
    "{\"a\": [1, 2.5, -3], b: $.payload.nested.a['b'].c}",
    "$.payload.count > 2 ? \"many\" : \"few\"",
    "\"text {{ $.payload.name }} and {{ $.payload.count * 2 }}\"",
    "{{ $.payload }}",
    "x {{ 60 * 1000 }} y {{ now() }} {{ uuid() }}",
    "json(toJSON($.payload)).items[-1]",
    "substring('héllo', 1, 3) + replace('a-b', '-', '+')",
    "'\\u{1F600}' + \"\\ud83d\\ude00\"",
])
for index, text in enumerate(sorted(expressions)):
    write("FuzzExpressions", f"{index:03d}", text)

# --- Wire frames: BinaryCoding.swift's encoding, selected by the first byte (WireFuzzing).
def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)

def signed(n):
    return varint(((n << 1) ^ (n >> 63)) & 0xFFFFFFFFFFFFFFFF)

def string(s):
    b = s.encode()
    return varint(len(b)) + b

def value(v):
    if v is None: return b"\x00"
    if v is False: return b"\x01"
    if v is True: return b"\x02"
    if isinstance(v, int): return b"\x03" + signed(v)
    if isinstance(v, float): return b"\x04" + struct.pack("<d", v)
    if isinstance(v, str): return b"\x05" + string(v)
    if isinstance(v, list): return b"\x06" + varint(len(v)) + b"".join(value(e) for e in v)
    return b"\x07" + varint(len(v)) + b"".join(string(k) + value(e) for k, e in v.items())

def message(id, payload, frm=None, to=None, deadline=None, priority=0, traceparent=None, hops=0):
    flags = (1 if frm else 0) | (2 if to else 0) | (4 if deadline is not None else 0) | (8 if traceparent else 0) | (16 if hops else 0)
    out = bytes([flags]) + string(id)
    if frm: out += string(frm[0]) + string(frm[1])
    if to: out += string(to[0]) + string(to[1])
    if deadline is not None: out += struct.pack("<d", deadline)
    out += signed(priority)
    if traceparent: out += string(traceparent)
    if hops: out += signed(hops)
    return out + value(payload)

payloads = [{"greeting": "hello", "count": 3}, [1, 2.5, None, True, "x"], "plain", {"nested": {"a": [{"b": -7}]}}]
batch = b""
for sequence, payload in enumerate(payloads):
    batch += varint(sequence + 1) + bytes([sequence % 2]) + message(
        f"m-{sequence}", payload, frm=("ticker", "out"), to=("debug", "in"),
        deadline=1.7e9 if sequence == 1 else None, priority=sequence - 1,
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" if sequence == 2 else None,
        hops=sequence * 3)
write("FuzzWire", "deliver-batch", bytes([0]) + batch)
write("FuzzWire", "deliver-one", bytes([0]) + varint(1) + b"\x00" + message("only", {"k": "v"}))
acks = varint(1) + b"\x00" + varint(2) + b"\x01" + string("node debug has no port in") + varint(3) + b"\x02" + value({"status": 200})
write("FuzzWire", "ack-batch", bytes([1]) + acks)
desired = {"generation": 3, "term": 1, "remoteNodes": {"sink": "other"}, "moduleAddresses": {"other": ["10.0.0.2:9000"]},
           "nodes": [{"name": "ticker", "namespace": "default", "flow": "hello", "component": "ticker", "generation": 2,
                      "maxHops": 16, "ports": [{"port": "settings", "configuration": {"interval": "1s", "payload": {"n": 1}}}],
                      "edges": [{"id": "e1", "port": "out", "to": "debug:in", "mapping": {"n": "{{ $.payload.n + 1 }}"}}]}]}
for selector, body in [
    (2, desired), (3, {}), (4, {"node": "debug"}),
    (5, {"operation": "set", "kind": "node", "namespace": "default", "name": "a", "key": "count", "value": {"n": 1}}),
    (6, {"intervalMilliseconds": 500}),
    (7, {"module": "common", "version": "0.1.0", "components": []}),
    (8, {"generation": 3, "nodes": [{"name": "ticker", "phase": "Running", "generation": 2},
                                    {"name": "bad", "phase": "Failed", "error": "boom", "reason": "SettingsRejected"}]}),
    (9, [{"id": "m-1", "from": "ticker:out", "to": "debug:in", "payload": {"n": 1}, "priority": 0, "hops": 1}]),
    (10, {"value": 3, "keys": ["a", "b"], "removed": 1}),
    (11, [{"name": "ticker", "generation": 3, "phase": "Running", "restarts": 0,
           "counters": {"received": 1, "delivered": 1, "errored": 0, "expired": 0, "sent": 2}}]),
    (12, {"operation": "replay", "namespace": "default", "nodes": ["counter"], "ids": [3, 4], "limit": 100}),
    (13, {"count": 1, "deadLetters": [{
        "id": 3, "queue": {"namespace": "default", "node": "counter", "port": "in"},
        "edge": {"node": "ticker", "edge": "to-counter"},
        "message": {"id": "m-1", "from": "ticker:out", "to": "counter:in", "payload": {"n": 1}, "priority": 0, "hops": 1},
        "attempts": 5, "reason": "attemptsExhausted", "lastError": "boom", "enqueuedAt": 7.3e8, "deadLetteredAt": 7.3e8}]}),
]:
    write("FuzzWire", f"json-{selector}", bytes([selector]) + json.dumps(body).encode())

# --- Control-plane requests: METHOD\nPATH?QUERY\nCONTENT-TYPE\nBODY, as kubectl sends them.
def request(name, method, target, content_type="", body=b""):
    if isinstance(body, str):
        body = body.encode()
    write("FuzzControlPlaneRequests", name, f"{method}\n{target}\n{content_type}\n".encode() + body)

token = base64.b64encode(json.dumps({"rv": 12, "start": "default/ticker"}).encode()).decode()
request("version", "GET", "/version")
request("discovery", "GET", "/apis/tinyflow.dev/v1alpha1")
request("openapi", "GET", "/openapi/v3/apis/tinyflow.dev/v1alpha1")
request("list", "GET", "/api/v1/namespaces/default/configmaps?limit=500")
request("list-continue", "GET", f"/apis/tinyflow.dev/v1alpha1/namespaces/default/tinynodes?limit=2&continue={token}")
request("list-exact", "GET", "/api/v1/secrets?resourceVersionMatch=Exact&resourceVersion=17", "application/json;as=Table;v=v1;g=meta.k8s.io")
request("watch", "GET", "/apis/tinyflow.dev/v1alpha1/namespaces/default/tinynodes?watch=true&resourceVersion=12"
        "&allowWatchBookmarks=true&sendInitialEvents=true&timeoutSeconds=300"
        "&labelSelector=app%3Dhello%2Ctier+in+%28a%2Cb%29%2C%21gone%2Cenv+notin+%28x%29&fieldSelector=metadata.name%21%3Dx")
request("watch-one", "GET", "/api/v1/namespaces/default/configmaps/settings?watch=1")
request("namespace-status", "PUT", "/api/v1/namespaces/default/status", "application/json", '{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"default"}}')
for path in ["Tests/ControlPlaneTests/Fixtures/ssa-node.yaml", "Tests/ControlPlaneTests/Fixtures/ssa-node-conflict.yaml"]:
    request(f"apply-{os.path.basename(path)}", "PATCH",
            "/apis/tinyflow.dev/v1alpha1/namespaces/default/tinynodes/ticker?fieldManager=kubectl&force=true&fieldValidation=Strict",
            "application/apply-patch+yaml", read(path))
request("apply-configmap", "PATCH", "/api/v1/namespaces/default/configmaps/target?fieldManager=kubectl&dryRun=All",
        "application/apply-patch+yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: target\ndata:\n  key: new\nspec:\n  ports:\n  - name: http\n    protocol: TCP\n    port: 8080\n  tags: [blue, red]\n")
request("merge-patch", "PATCH", "/api/v1/namespaces/default/configmaps/target", "application/merge-patch+json",
        '{"metadata":{"labels":{"app":null,"new":"x"}},"data":{"key":"v2"}}')
request("strategic-patch", "PATCH", "/api/v1/namespaces/default/configmaps/target", "application/strategic-merge-patch+json",
        '{"metadata":{"$setElementOrder/finalizers":["a/b"],"annotations":{"k":"v"}},"$patch":"merge"}')
request("json-patch", "PATCH", "/api/v1/namespaces/default/configmaps/target/status", "application/json-patch+json",
        json.dumps([{"op": "test", "path": "/data/key", "value": "old"}, {"op": "add", "path": "/spec/args/-", "value": "y"},
                    {"op": "replace", "path": "/data/key", "value": "new"}, {"op": "remove", "path": "/spec/tags/0"},
                    {"op": "move", "from": "/data/other", "path": "/data/moved"},
                    {"op": "copy", "from": "/spec/labels", "path": "/metadata/labels~1copy"}]))
request("create-json", "POST", "/api/v1/namespaces/default/configmaps?fieldManager=kubectl-create", "application/json",
        '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"new","labels":{"a":"b"}},"data":{"k":"v"}}')
request("create-yaml", "POST", "/apis/tinyflow.dev/v1alpha1/namespaces/default/tinynodes", "application/yaml",
        read("Tests/ControlPlaneTests/Fixtures/ticker-node.yaml"))

def pb_field(number, data):
    return varint(number << 3 | 2) + varint(len(data)) + data

def pb_entry(key, value):
    return pb_field(1, key.encode()) + pb_field(2, value.encode())

meta = pb_field(1, b"settings") + pb_field(3, b"default") + pb_field(11, pb_entry("app", "demo")) + pb_field(14, b"a/b")
configmap = pb_field(1, meta) + pb_field(2, pb_entry("key", "value")) + pb_field(3, pb_entry("bin", "\x00\x01")) + varint(4 << 3) + b"\x01"
envelope = b"k8s\x00" + pb_field(1, pb_field(1, b"v1") + pb_field(2, b"ConfigMap")) + pb_field(2, configmap)
request("create-protobuf", "POST", "/api/v1/namespaces/default/configmaps", "application/vnd.kubernetes.protobuf", envelope)
secret = pb_field(1, pb_field(1, b"db")) + pb_field(2, pb_entry("password", "s3cret")) + pb_field(3, b"Opaque") + pb_field(4, pb_entry("user", "ada"))
request("create-protobuf-secret", "POST", "/api/v1/namespaces/default/secrets", "application/vnd.kubernetes.protobuf",
        b"k8s\x00" + pb_field(1, pb_field(1, b"v1") + pb_field(2, b"Secret")) + pb_field(2, secret))
request("delete", "DELETE", "/api/v1/namespaces/default/configmaps/target", "application/json",
        '{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground","gracePeriodSeconds":0,"preconditions":{"resourceVersion":"7"}}')
request("delete-collection", "DELETE", "/api/v1/namespaces/default/configmaps?labelSelector=app%3Ddemo")
request("update", "PUT", "/apis/tinyflow.dev/v1alpha1/namespaces/default/tinynodes/ticker", "application/json",
        json.dumps(yaml.safe_load(read("Tests/ControlPlaneTests/Fixtures/ticker-node.yaml"))))
