/// One figure of a benchmark run, printed as one JSON line.
struct Figure {
    var bench: String
    var value: Double
    var unit: String
    /// The comparison figure measured in the same run, if any.
    var baseline: Double?
    /// What `baseline` is (the name of the other bench).
    var baselineBench: String?
    /// More comparison figures: name → value (for example the Go channel).
    var extra: [(String, Double)] = []
    /// What was measured, in words: name → text (for example which executable).
    var labels: [(String, String)] = []

    /// The JSON line: `{"bench": …, "value": …, "unit": …, "baseline": …, "ratio": …}`.
    var jsonLine: String {
        var fields = [
            "\"bench\":\(jsonString(bench))",
            "\"value\":\(jsonNumber(value))",
            "\"unit\":\(jsonString(unit))",
            "\"baseline\":\(baseline.map(jsonNumber) ?? "null")",
        ]
        if let baseline, let baselineBench {
            fields.append("\"baseline_bench\":\(jsonString(baselineBench))")
            if baseline > 0 { fields.append("\"ratio\":\(jsonNumber(value / baseline))") }
        }
        for (key, number) in extra { fields.append("\(jsonString(key)):\(jsonNumber(number))") }
        for (key, text) in labels { fields.append("\(jsonString(key)):\(jsonString(text))") }
        return "{" + fields.joined(separator: ",") + "}"
    }
}

func jsonString(_ string: String) -> String {
    var out = "\""
    for scalar in string.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case _ where scalar.value < 0x20: out += "\\u" + String(scalar.value, radix: 16).leftPadded(to: 4)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

func jsonNumber(_ value: Double) -> String {
    guard value.isFinite else { return "null" }
    if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return String((value * 1000).rounded() / 1000)
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: Swift.max(0, width - count)) + self
    }
}

/// The median of repeated measurements.
func median(_ values: [Double]) -> Double {
    precondition(!values.isEmpty)
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
