import CRDModels
import KubernetesClient

/// Where the module hosts of a namespace listen, as its TinyModules say (`spec.address`, else
/// `status.address`): how `tinyflow context` and `tinyflow dlq` find a host to ask.
enum ModuleHostAddresses {
    /// The addresses to ask, best first: those of `preferred` modules in the given order, then
    /// every module's in module-name order (a host may appear twice).
    static func candidates(in namespace: String, preferring preferred: [String] = [], client: KubernetesClient) async throws -> [String] {
        let modules = try await client.api(TinyModule.self, namespace: namespace).listAll().items
        let addresses = Dictionary(
            modules.compactMap { module in
                (module.spec.address ?? module.status?.address).flatMap { address in module.metadata.name.map { ($0, address) } }
            }, uniquingKeysWith: { first, _ in first })
        return preferred.compactMap { addresses[$0] } + addresses.keys.sorted().compactMap { addresses[$0] }
    }
}
