import Testing

@testable import tinyflow_bench

@Suite("LatencyHistogram")
struct LatencyHistogramTests {
    @Test("every value falls in a bucket whose bounds contain it, within 1/32 of the value")
    func bucketBounds() {
        var values: [UInt64] = Array(0..<100) + [1_000, 4_095, 4_096, 65_537, 1_000_000_007, .max / 3, .max]
        values += (0..<64).map { UInt64(1) << $0 }
        for value in values {
            let index = LatencyHistogram.index(of: value)
            #expect(LatencyHistogram.lowerBound(of: index) <= value)
            #expect(value <= LatencyHistogram.upperBound(of: index))
            let width = LatencyHistogram.upperBound(of: index) - LatencyHistogram.lowerBound(of: index)
            #expect(width <= Swift.max(value / 32, 1))
        }
    }

    @Test("quantiles of 1…10,000 ns are within 3 % of the exact ones")
    func quantiles() {
        var histogram = LatencyHistogram()
        for value in 1...10_000 as ClosedRange<UInt64> { histogram.record(value) }
        #expect(histogram.total == 10_000 && histogram.max == 10_000)
        for (q, exact) in [(0.5, 5_000.0), (0.99, 9_900.0), (1.0, 10_000.0)] {
            let reported = Double(histogram.quantile(q))
            #expect(reported >= exact && reported <= exact * 1.03, "q\(q): \(reported)")
        }
    }

    @Test("an empty histogram reports 0 and a merge adds counts")
    func emptyAndMerge() {
        var a = LatencyHistogram()
        #expect(a.quantile(0.99) == 0)
        var b = LatencyHistogram()
        b.record(100, count: 99)
        b.record(1_000_000)
        a.merge(b)
        #expect(a.total == 100)
        #expect(a.quantile(0.5) <= 103 && a.quantile(0.5) >= 100)
        #expect(a.quantile(1.0) == 1_000_000)
    }
}
