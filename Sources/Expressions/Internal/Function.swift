/// The built-in functions, resolved by name at compile time.
enum Function: String, Sendable, CaseIterable {
    case len, upper, lower, trim, contains, startsWith, endsWith, replace, split, join
    case substring, string, number, int, keys, now, uuid, `default`, json, toJSON

    /// How many arguments the function takes.
    var arity: ClosedRange<Int> {
        switch self {
        case .now, .uuid: 0...0
        case .len, .upper, .lower, .trim, .string, .number, .int, .keys, .json, .toJSON: 1...1
        case .contains, .startsWith, .endsWith, .split, .default: 2...2
        case .join: 1...2
        case .substring: 2...3
        case .replace: 3...3
        }
    }

    /// Whether the result depends only on the arguments, so a call with
    /// constant arguments can be folded at compile time.
    var isPure: Bool {
        switch self {
        case .now, .uuid: false
        default: true
        }
    }

    /// "1 argument", "2 or 3 arguments", "no arguments".
    var arityDescription: String {
        let range = arity
        func count(_ n: Int) -> String { n == 0 ? "no arguments" : (n == 1 ? "1 argument" : "\(n) arguments") }
        if range.lowerBound == range.upperBound { return count(range.lowerBound) }
        return "\(range.lowerBound) or \(count(range.upperBound))"
    }
}
