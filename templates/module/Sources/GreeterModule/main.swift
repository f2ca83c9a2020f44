import Greeter
import ModuleHost

// The module host: parses --module, --listen, --health-address and the
// --tls-* flags the tinyflow-module chart passes, serves the components
// over gRPC and answers /healthz and /readyz.
await ModuleHost.main(module: "greeter", components: [Greet.self])
