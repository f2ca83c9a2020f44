/// The pattern duration strings follow: one or more `<number><unit>` with
/// units `ms`, `s`, `m`, `h` (Kubernetes/Go style, e.g. `1m30s`, `250ms`).
public let durationPattern = "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"

/// Parses a duration string such as `1m30s` or `250ms`; `nil` if malformed.
public func parseDuration(_ text: String) -> Duration? {
    var total = 0.0
    var number = ""
    var index = text.startIndex
    guard !text.isEmpty else { return nil }
    while index < text.endIndex {
        let character = text[index]
        if character.isNumber || character == "." {
            number.append(character)
            index = text.index(after: index)
            continue
        }
        guard let value = Double(number) else { return nil }
        number = ""
        let rest = text[index...]
        if rest.hasPrefix("ms") {
            total += value / 1000
            index = text.index(index, offsetBy: 2)
        } else if character == "s" {
            total += value
            index = text.index(after: index)
        } else if character == "m" {
            total += value * 60
            index = text.index(after: index)
        } else if character == "h" {
            total += value * 3600
            index = text.index(after: index)
        } else {
            return nil
        }
    }
    guard number.isEmpty else { return nil }
    return .milliseconds(Int64((total * 1000).rounded()))
}
