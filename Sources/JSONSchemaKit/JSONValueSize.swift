extension JSONValue {
    /// The fewest bytes this value takes as JSON: strings counted unescaped, numbers as one
    /// digit, so it never overstates. The walk stops once the count passes `limit`.
    public func minimumEncodedSize(stoppingAbove limit: Int = .max) -> Int {
        var total = 0
        _ = addSize(to: &total, limit: limit)
        return total
    }

    /// Whether this value takes more than `limit` bytes as JSON (by ``minimumEncodedSize(stoppingAbove:)``:
    /// it never refuses a value that fits).
    public func encodedSizeExceeds(_ limit: Int) -> Bool {
        minimumEncodedSize(stoppingAbove: limit) > limit
    }

    /// Adds this value's size to `total`; `true` once `total` is over `limit`.
    private func addSize(to total: inout Int, limit: Int) -> Bool {
        switch self {
        case .null: total += 4
        case .bool(let flag): total += flag ? 4 : 5
        case .integer, .number: total += 1
        case .string(let text): total += text.utf8.count + 2
        case .array(let elements):
            total += 1 + elements.count
            for element in elements where element.addSize(to: &total, limit: limit) { return true }
        case .object(let members):
            total += 1 + members.count
            for (key, member) in members {
                total += key.utf8.count + 3
                if member.addSize(to: &total, limit: limit) { return true }
            }
        }
        return total > limit
    }
}
