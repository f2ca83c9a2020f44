import ControlPlane
import FuzzSupport

/// Fuzzes how the embedded control plane reads a request before it touches its store: the
/// route from method and path, the query string and the options it carries (selectors,
/// continue tokens, resource versions), the body (JSON, YAML or kubectl's protobuf
/// envelope) and the patches applied with it (merge, strategic merge, JSON patch,
/// server-side apply). The input is
///
///     METHOD\nPATH[?QUERY]\nCONTENT-TYPE\nBODY
///
/// (see `RequestFuzzing.parse(_:)`).
@main
enum FuzzControlPlaneRequests {
    static func main() {
        FuzzDriver.main("FuzzControlPlaneRequests", test)
    }

    static func test(_ input: UnsafeRawBufferPointer) {
        RequestFuzzing.parse(input)
    }
}
