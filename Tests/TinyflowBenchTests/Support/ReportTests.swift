import Testing

@testable import tinyflow_bench

@Suite("Benchmark report")
struct ReportTests {
    @Test("a figure prints as one JSON line with its baseline and ratio")
    func jsonLine() {
        let figure = Figure(bench: "hop", value: 10, unit: "msgs/s", baseline: 4, baselineBench: "asyncstream \"x\"")
        #expect(
            figure.jsonLine
                == #"{"bench":"hop","value":10,"unit":"msgs/s","baseline":4,"baseline_bench":"asyncstream \"x\"","ratio":2.5}"#
        )
        #expect(Figure(bench: "go", value: 1.23456, unit: "us").jsonLine == #"{"bench":"go","value":1.235,"unit":"us","baseline":null}"#)
    }

    @Test("extra figures and labels follow, labels as JSON strings")
    func extrasAndLabels() {
        var figure = Figure(bench: "rss", value: 53, unit: "MiB")
        figure.extra = [("target_mib", 60)]
        figure.labels = [("operator", "/path/with \"quote\" operator")]
        #expect(
            figure.jsonLine
                == #"{"bench":"rss","value":53,"unit":"MiB","baseline":null,"target_mib":60,"operator":"/path/with \"quote\" operator"}"#
        )
    }

    @Test("the median of an odd and an even number of runs")
    func medians() {
        #expect(median([3, 1, 2]) == 2)
        #expect(median([4, 1, 3, 2]) == 2.5)
    }
}
