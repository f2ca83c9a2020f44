/// Bearer tokens as Tinyflow makes and checks them: the control plane's API token and the
/// module hosts' per-run token of `tinyflow up`.
public enum BearerToken {
    /// A new random token: 256 bits from the system's generator, as 64 hex digits.
    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        var token = ""
        token.reserveCapacity(64)
        for _ in 0..<32 {
            let byte = UInt8.random(in: 0...255, using: &generator)
            token.append(digits[Int(byte >> 4)])
            token.append(digits[Int(byte & 0x0f)])
        }
        return token
    }

    /// Whether `given` equals `expected`, compared without stopping at the first difference
    /// so that the time taken does not reveal how much of a guess was right.
    public static func constantTimeEqual(_ given: String, _ expected: String) -> Bool {
        let a = Array(given.utf8), b = Array(expected.utf8)
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0 && a.count == b.count
    }
}
