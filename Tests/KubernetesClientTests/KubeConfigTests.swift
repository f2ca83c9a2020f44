import ControlPlaneTestSupport
import Foundation
import KubernetesClient
import KubernetesModels
import Testing

@Suite("Kubeconfig and in-cluster configuration", .timeLimit(.minutes(2)))
struct KubeConfigTests {
    func write(_ text: String, to directory: URL, _ name: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    @Test("several KUBECONFIG files merge in order, the first file winning per name")
    func mergesFilesInOrder() async throws {
        try await withTemporaryDirectory { directory in
            let first = try write("""
                current-context: dev
                clusters:
                - name: shared
                  cluster: {server: "https://first.example:6443"}
                users:
                - name: me
                  user: {token: first-token}
                contexts:
                - name: dev
                  context: {cluster: shared, user: me, namespace: flows}
                """, to: directory, "first")
            let second = try write("""
                current-context: prod
                clusters:
                - name: shared
                  cluster: {server: "https://second.example:6443"}
                - name: other
                  cluster: {server: "https://other.example"}
                users:
                - name: me
                  user: {token: second-token}
                contexts:
                - name: prod
                  context: {cluster: other, user: me}
                """, to: directory, "second")
            let missing = directory.appendingPathComponent("missing").path
            let environment = ["KUBECONFIG": "\(first):\(missing):\(second)"]
            let configuration = try ClientConfiguration.fromKubeconfig(environment: environment)
            #expect(configuration.server.absoluteString == "https://first.example:6443")
            #expect(configuration.namespace == "flows")
            #expect(configuration.credentials == .bearerToken("first-token"))

            let prod = try ClientConfiguration.fromKubeconfig(context: "prod", environment: environment)
            #expect(prod.server.absoluteString == "https://other.example")
            #expect(prod.namespace == "default")
            #expect(prod.credentials == .bearerToken("first-token"))
        }
    }

    @Test("~/.kube/config is read when KUBECONFIG is unset")
    func homeKubeconfig() async throws {
        try await withTemporaryDirectory { home in
            try FileManager.default.createDirectory(at: home.appendingPathComponent(".kube"), withIntermediateDirectories: true)
            _ = try write("""
                current-context: c
                clusters: [{name: k, cluster: {server: "http://127.0.0.1:8080"}}]
                users: [{name: u, user: {}}]
                contexts: [{name: c, context: {cluster: k, user: u}}]
                """, to: home, ".kube/config")
            let configuration = try ClientConfiguration.fromKubeconfig(environment: ["HOME": home.path])
            #expect(configuration.server.absoluteString == "http://127.0.0.1:8080")
            #expect(configuration.credentials == .none)
        }
    }

    @Test("a token file is used, relative to the kubeconfig, and re-read")
    func tokenFile() async throws {
        try await withTemporaryDirectory { directory in
            let tokenPath = try write("token-1\n", to: directory, "token")
            let path = try write("""
                current-context: c
                clusters: [{name: k, cluster: {server: "https://k.example"}}]
                users: [{name: u, user: {tokenFile: token, token: ignored}}]
                contexts: [{name: c, context: {cluster: k, user: u}}]
                """, to: directory, "config")
            var configuration = try ClientConfiguration.fromKubeconfig(environment: ["KUBECONFIG": path])
            #expect(configuration.credentials == .tokenFile(path: tokenPath))
            configuration.credentials = .tokenFile(path: tokenPath, refreshInterval: .zero)
            let transport = ScriptedTransport([])
            let client = try KubernetesClient(configuration: configuration, transport: transport)
            _ = try await client.send(ResourceRequests<ConfigMap>(namespace: "default").get("a"))
            try Data("token-2".utf8).write(to: URL(fileURLWithPath: tokenPath))
            _ = try await client.send(ResourceRequests<ConfigMap>(namespace: "default").get("a"))
            let tokens = transport.requests.map { $0.headers.first { $0.name == "Authorization" }?.value }
            #expect(tokens == ["Bearer token-1", "Bearer token-2"])
        }
    }

    @Test("client certificate and key are read from data and from files")
    func clientCertificate() async throws {
        try await withTemporaryDirectory { directory in
            _ = try write(TestPEM.certificate, to: directory, "client.crt")
            _ = try write(TestPEM.key, to: directory, "client.key")
            let certificate = Data(TestPEM.certificate.utf8).base64EncodedString()
            let key = Data(TestPEM.key.utf8).base64EncodedString()
            let path = try write("""
                current-context: inline
                clusters: [{name: k, cluster: {server: "https://k.example"}}]
                users:
                - {name: inline, user: {client-certificate-data: \(certificate), client-key-data: \(key)}}
                - {name: files, user: {client-certificate: client.crt, client-key: client.key}}
                contexts:
                - {name: inline, context: {cluster: k, user: inline}}
                - {name: files, context: {cluster: k, user: files}}
                """, to: directory, "config")
            for context in ["inline", "files"] {
                let configuration = try ClientConfiguration.fromKubeconfig(context: context, environment: ["KUBECONFIG": path])
                #expect(configuration.credentials == .clientCertificate(certificatePEM: Data(TestPEM.certificate.utf8), keyPEM: Data(TestPEM.key.utf8)))
                // The TLS configuration accepts them.
                let transport = try AsyncHTTPClientTransport(configuration: configuration)
                try await transport.shutdown()
            }
        }
    }

    @Test("certificate-authority-data and insecure-skip-tls-verify are read")
    func certificateAuthorityAndInsecure() throws {
        let authority = Data(TestPEM.certificate.utf8).base64EncodedString()
        let config = try KubeConfig.parse("""
            current-context: ca
            clusters:
            - {name: ca, cluster: {server: "https://a.example", certificate-authority-data: \(authority)}}
            - {name: insecure, cluster: {server: "https://b.example", insecure-skip-tls-verify: true}}
            users: [{name: u, user: {token: t}}]
            contexts:
            - {name: ca, context: {cluster: ca, user: u}}
            - {name: insecure, context: {cluster: insecure, user: u}}
            """)
        let ca = try ClientConfiguration(kubeconfig: config)
        #expect(ca.certificateAuthorityPEM == Data(TestPEM.certificate.utf8))
        #expect(!ca.insecureSkipTLSVerify)
        let insecure = try ClientConfiguration(kubeconfig: config, context: "insecure")
        #expect(insecure.insecureSkipTLSVerify)
        #expect(insecure.certificateAuthorityPEM == nil)
    }

    @Test("a malformed kubeconfig gives an error naming the file and the field", arguments: [
        ("clusters: [{name: k, cluster: {server: 12}}]", "clusters[0].cluster.server"),
        ("clusters: [{name: k}]", "clusters[0].cluster"),
        ("users: [{name: u, user: {client-certificate-data: '%%%'}}]", "users[0].user.client-certificate-data"),
        ("users: [{name: u, user: {client-key-data: 'YWJj'}}]", "users[0].user.client-certificate-data"),
        ("clusters: [{name: k, cluster: {server: 'https://x', insecure-skip-tls-verify: maybe}}]", "clusters[0].cluster.insecure-skip-tls-verify"),
        ("contexts: {name: c}", "contexts"),
        ("contexts: [{name: c, context: {user: u}}]", "contexts[0].context.cluster"),
    ])
    func malformed(text: String, field: String) async throws {
        try await withTemporaryDirectory { directory in
            let path = try write(text, to: directory, "broken-config")
            let error = #expect(throws: ConfigurationError.self) {
                try KubeConfig.read(file: path)
            }
            #expect(error?.file == path)
            #expect(error?.field == field)
            #expect(error?.description.contains("broken-config") == true)
        }
    }

    @Test("exec credentials fail only when the selected user depends on them")
    func execCredentials() throws {
        let config = try KubeConfig.parse("""
            current-context: plain
            clusters: [{name: k, cluster: {server: "https://k.example"}}]
            users:
            - {name: cloud, user: {exec: {command: gke-gcloud-auth-plugin}}}
            - {name: plain, user: {token: t}}
            contexts:
            - {name: cloud, context: {cluster: k, user: cloud}}
            - {name: plain, context: {cluster: k, user: plain}}
            """, file: "/tmp/kc")
        #expect(try ClientConfiguration(kubeconfig: config).credentials == .bearerToken("t"))
        let error = #expect(throws: ConfigurationError.self) { try ClientConfiguration(kubeconfig: config, context: "cloud") }
        #expect(error?.field == "users[0].user.exec")
        #expect(error?.file == "/tmp/kc")
    }

    @Test("a context naming a missing cluster is an error naming the context")
    func missingCluster() throws {
        let config = try KubeConfig.parse("""
            current-context: c
            contexts: [{name: c, context: {cluster: nowhere, user: u}}]
            """, file: "/tmp/kc")
        let error = #expect(throws: ConfigurationError.self) { try ClientConfiguration(kubeconfig: config) }
        #expect(error?.field == "contexts[c].context.cluster")
        #expect(error?.file == "/tmp/kc")
    }

    @Test("in-cluster configuration reads the service host, port, token, CA and namespace")
    func inCluster() async throws {
        try await withTemporaryDirectory { directory in
            let tokenPath = try write("sa-token\n", to: directory, "token")
            _ = try write(TestPEM.certificate, to: directory, "ca.crt")
            _ = try write("tinyflow-system\n", to: directory, "namespace")
            let environment = ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"]
            let configuration = try ClientConfiguration.inCluster(
                environment: environment, serviceAccountDirectory: directory.path, tokenRefreshInterval: .zero)
            #expect(configuration.server.absoluteString == "https://10.96.0.1:443")
            #expect(configuration.namespace == "tinyflow-system")
            #expect(configuration.certificateAuthorityPEM == Data(TestPEM.certificate.utf8))
            #expect(configuration.credentials == .tokenFile(path: tokenPath, refreshInterval: .zero))

            let ipv6 = try ClientConfiguration.inCluster(
                environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"],
                serviceAccountDirectory: directory.path)
            #expect(ipv6.server.absoluteString == "https://[fd00::1]:6443")

            // The rotated token is picked up on the next request.
            let transport = ScriptedTransport([])
            let client = try KubernetesClient(configuration: configuration, transport: transport)
            _ = try await client.send(ResourceRequests<ConfigMap>(namespace: "default").get("a"))
            try Data("rotated".utf8).write(to: URL(fileURLWithPath: tokenPath))
            _ = try await client.send(ResourceRequests<ConfigMap>(namespace: "default").get("a"))
            let tokens = transport.requests.map { $0.headers.first { $0.name == "Authorization" }?.value }
            #expect(tokens == ["Bearer sa-token", "Bearer rotated"])
        }
    }

    @Test("in-cluster configuration without the environment says what is missing")
    func notInCluster() {
        let error = #expect(throws: ConfigurationError.self) { try ClientConfiguration.inCluster(environment: [:]) }
        #expect(error?.field == "KUBERNETES_SERVICE_HOST")
        let port = #expect(throws: ConfigurationError.self) {
            try ClientConfiguration.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "x"])
        }
        #expect(port?.field == "KUBERNETES_SERVICE_PORT")
    }
}
