/// The console's files, embedded in the binary by SwiftPM (`.embedInCode` in
/// Package.swift): served by name, with their content type.
enum ConsoleAssets {
    /// A file of the page.
    struct Asset: Sendable {
        /// The bytes.
        let bytes: [UInt8]
        /// The `Content-Type` it is served with.
        let contentType: String
    }

    /// The page itself, served at `/`.
    static let index = Asset(bytes: PackageResources.index_html, contentType: "text/html; charset=utf-8")

    /// Every file under `/assets/NAME`, by name.
    static let byName: [String: Asset] = [
        "api.js": Asset(bytes: PackageResources.api_js, contentType: "text/javascript; charset=utf-8"),
        "app.js": Asset(bytes: PackageResources.app_js, contentType: "text/javascript; charset=utf-8"),
        "catalogue.js": Asset(bytes: PackageResources.catalogue_js, contentType: "text/javascript; charset=utf-8"),
        "debug.js": Asset(bytes: PackageResources.debug_js, contentType: "text/javascript; charset=utf-8"),
        "draft.js": Asset(bytes: PackageResources.draft_js, contentType: "text/javascript; charset=utf-8"),
        "forms.js": Asset(bytes: PackageResources.forms_js, contentType: "text/javascript; charset=utf-8"),
        "graph.js": Asset(bytes: PackageResources.graph_js, contentType: "text/javascript; charset=utf-8"),
        "history.js": Asset(bytes: PackageResources.history_js, contentType: "text/javascript; charset=utf-8"),
        "layout.js": Asset(bytes: PackageResources.layout_js, contentType: "text/javascript; charset=utf-8"),
        "openapi.json": Asset(bytes: PackageResources.openapi_json, contentType: "application/json"),
        "panel.js": Asset(bytes: PackageResources.panel_js, contentType: "text/javascript; charset=utf-8"),
        "style.css": Asset(bytes: PackageResources.style_css, contentType: "text/css; charset=utf-8"),
        "validate.js": Asset(bytes: PackageResources.validate_js, contentType: "text/javascript; charset=utf-8"),
    ]
}
