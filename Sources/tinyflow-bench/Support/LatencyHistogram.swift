/// A fixed-size log-linear histogram of nanosecond values (in the manner of HdrHistogram):
/// 32 linear sub-buckets per power of two, so a reported quantile is within about 3 % of the
/// true value, and memory is fixed (1,920 counters) whatever is recorded.
struct LatencyHistogram {
    private static let subBucketBits = 5
    private static let subBuckets = 1 << subBucketBits
    /// Values below `subBuckets` get one bucket each; each power of two above gets `subBuckets`.
    private static let bucketCount = (64 - subBucketBits + 1) * subBuckets

    private var counts = [UInt64](repeating: 0, count: bucketCount)
    private(set) var total: UInt64 = 0
    private(set) var max: UInt64 = 0

    mutating func record(_ value: UInt64, count: UInt64 = 1) {
        counts[Self.index(of: value)] &+= count
        total &+= count
        if value > max { max = value }
    }

    mutating func merge(_ other: LatencyHistogram) {
        for index in counts.indices { counts[index] &+= other.counts[index] }
        total &+= other.total
        max = Swift.max(max, other.max)
    }

    /// The smallest bucket upper bound at or below which a fraction `q` of the values lie.
    func quantile(_ q: Double) -> UInt64 {
        precondition((0...1).contains(q))
        guard total > 0 else { return 0 }
        let rank = Swift.max(1, UInt64((Double(total) * q).rounded(.up)))
        var seen: UInt64 = 0
        for (index, count) in counts.enumerated() where count > 0 {
            seen += count
            if seen >= rank { return Swift.min(Self.upperBound(of: index), max) }
        }
        return max
    }

    static func index(of value: UInt64) -> Int {
        if value < UInt64(subBuckets) { return Int(value) }
        let exponent = 63 - value.leadingZeroBitCount  // ≥ subBucketBits
        let shift = exponent - subBucketBits
        let mantissa = Int(value >> UInt64(shift))  // in subBuckets..<2 * subBuckets
        return (shift + 1) * subBuckets + (mantissa - subBuckets)
    }

    static func lowerBound(of index: Int) -> UInt64 {
        if index < subBuckets { return UInt64(index) }
        let shift = index / subBuckets - 1
        let mantissa = UInt64(index % subBuckets + subBuckets)
        return mantissa << UInt64(shift)
    }

    static func upperBound(of index: Int) -> UInt64 {
        index + 1 < bucketCount ? lowerBound(of: index + 1) - 1 : .max
    }
}
