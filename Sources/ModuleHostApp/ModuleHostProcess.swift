public import BearerTokens
import ComponentKit
import ConfigurationReferences
import AsyncPrimitives
import ContextStores
import Foundation
import GRPCTransport
import Hummingbird
import KubernetesClient
import KubernetesModels
import KubernetesRuntime
public import Logging
import ModuleHost
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Runs a module-host process: the node runtime, its gRPC server (messages
/// and the control API), the transport to other modules and the health
/// endpoints, in one `ServiceGroup` that shuts down gracefully on SIGTERM
/// and SIGINT (the server stops taking calls, nodes drain, the transport
/// closes).
public enum ModuleHostProcess {
    /// Runs `module` with `options` until SIGTERM/SIGINT.
    public static func run(_ module: ModuleDefinition, options: ModuleHostOptions, logger: Logger) async throws {
        // The values of the Secrets the nodes use are shown as *** in everything the host logs.
        let redaction = SecretRedaction()
        let logger = logger.redacting(redaction)
        let listen = try HostPort(parsing: options.listen, option: "--listen")
        StopWithParent.watchIfRequested()
        let tls = options.tls.configuration
        let token = try options.tokenFileLocation.map(BearerTokenFile.read)
        if tls == nil && token == nil {
            logger.warning("serving callers without authentication (--allow-unauthenticated) on \(listen)")
        }
        let transport = GRPCModuleTransport(configuration: .init(tls: tls, token: token), logger: logger)
        var services: [any Service] = []
        var election: any SourceElection = StandaloneElection()
        if let lease = options.sourceLease {
            let environment = ProcessInfo.processInfo.environment
            let namespace = options.leaseNamespace ?? environment["POD_NAMESPACE"] ?? "default"
            let identity = environment["POD_NAME"] ?? ProcessInfo.processInfo.hostName
            let client = try KubernetesClient(configuration: try ClientConfiguration.infer(), logger: logger)
            let elector = LeaderElector(
                api: client.api(Lease.self, namespace: namespace), leaseName: lease, identity: identity, logger: logger)
            services.append(elector)
            election = LeaseSourceElection(leadership: elector.leadership)
            logger.info("source nodes run on the holder of lease \(namespace)/\(lease); this replica is \(identity)")
        }
        let context = try OpenedContextStore.open(
            try options.contextStoreLocation, limits: ContextLimits(maxKeysPerScope: options.contextMaxKeysPerScope), logger: logger)
        // First in the group, so they stop last: nodes drain while their store still answers.
        services.insert(contentsOf: context.services, at: 0)
        let referencedValues = Self.referencedValues(logger: logger)
        if let service = referencedValues as? any Service { services.append(service) }
        var configuration = ModuleRuntime.Configuration()
        configuration.stopTimeout = .milliseconds(Int64((options.nodeStopTimeout * 1000).rounded()))
        let runtime = ModuleRuntime(
            module: module, transport: transport, election: election, contextStore: context.store,
            messageStore: context.messageStore, referencedValues: referencedValues, redaction: redaction,
            configuration: configuration, logger: logger)
        // On a cluster the host serves its pod's namespace only (local mode sets it too).
        let control: any ModuleHostControl =
            ProcessInfo.processInfo.environment["POD_NAMESPACE"].map { NamespacedContextControl(base: runtime, namespace: $0) }
            ?? runtime
        let server = ModuleHostServer(
            host: listen.host, port: listen.port, tls: tls, token: token, operatorName: options.operatorName,
            control: control, sink: runtime, logger: logger)
        services += [transport, runtime, server]
        if options.healthAddress != "none" {
            let health = try HostPort(parsing: options.healthAddress, option: "--health-address")
            let store = context.store
            let location = context.location.description
            services.append(
                HealthEndpoints.service(
                    address: health,
                    notReadyReason: {
                        guard (try? await server.boundPort) != nil else { return "gRPC server not listening yet" }
                        // Within the probe's own timeout (2 s in the chart), so the reason is seen.
                        do {
                            try await withTimeout(.milliseconds(1500)) { try await store.checkAvailability() }
                            return nil
                        } catch let timeout as TimeoutError {
                            return "context store \(location) gave \(timeout)"
                        } catch {
                            return "\(error)"
                        }
                    }, logger: logger))
        }
        logger.info(
            "module host for \"\(module.name)\" \(module.version): \(module.components.count) components, gRPC on \(listen), context store \(context.location)")
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [], logger: logger))
        try await group.run()
    }
}

extension ModuleHostProcess {
    /// Where the host reads the Secrets and ConfigMaps its nodes refer to: the Kubernetes API
    /// (in-cluster, or `$KUBECONFIG` as `tinyflow up` passes it), in `$POD_NAMESPACE` only
    /// when that is set; none when there is no API to reach (such nodes then fail, saying why).
    static func referencedValues(logger: Logger) -> any ReferencedValueSource {
        do {
            let client = try KubernetesClient(configuration: try ClientConfiguration.infer(), logger: logger)
            return KubernetesReferencedValues(
                client: client, servedNamespace: ProcessInfo.processInfo.environment["POD_NAMESPACE"], logger: logger)
        } catch {
            logger.notice("no Kubernetes API: nodes that refer to Secrets or ConfigMaps will fail (\(error))")
            return NoReferencedValues(reason: "this module host has no Kubernetes API to read from (\(error))")
        }
    }
}

/// `/healthz` (the process answers) and `/readyz` (it serves gRPC and its context store
/// answers) over HTTP, for Kubernetes probes; a 503 from `/readyz` says why.
enum HealthEndpoints {
    static func service(
        address: HostPort, notReadyReason: @escaping @Sendable () async -> String?, logger: Logger
    ) -> some Service {
        let router = Router()
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            guard let reason = await notReadyReason() else {
                return Response(status: .ok, body: .init(byteBuffer: .init(string: "ok\n")))
            }
            return Response(status: .serviceUnavailable, body: .init(byteBuffer: .init(string: "not ready: \(reason)\n")))
        }
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        return Application(router: router, configuration: .init(address: .hostname(address.host, port: address.port)), logger: quiet)
    }
}
