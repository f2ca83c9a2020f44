public import ComponentKit

/// The standard components, served by the `common` module.
public enum CommonModule {
    /// The `common` module definition.
    public static let definition = ModuleDefinition(
        name: "common", version: "0.1.0",
        components: [
            Ticker.self, Debug.self, Split.self, Batch.self, Delay.self, RateLimit.self, Signal.self,
            Transform.self, Router.self, KeyValue.self, Dedupe.self, HTTPServer.self, HTTPResponseComponent.self, HTTPRequestComponent.self,
        ])
}
