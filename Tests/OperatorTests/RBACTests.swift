import Foundation
import Operator
import Testing

/// The Helm chart's RBAC is tested against `charts/tinyflow-operator/ci/expected-rbac.json`
/// (scripts/test_charts.py); this holds that file equal to the rules the code uses.
@Suite("Operator RBAC and the Helm chart", .timeLimit(.minutes(2)))
struct RBACTests {
    @Test("ci/expected-rbac.json equals OperatorPermissions.rules")
    func chartRulesMatchOperatorPermissions() throws {
        let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // OperatorTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()
        let file = root.appendingPathComponent("charts/tinyflow-operator/ci/expected-rbac.json")
        let rules = try JSONDecoder().decode([PolicyRule].self, from: Data(contentsOf: file))
        #expect(
            rules == OperatorPermissions.rules,
            """
            update charts/tinyflow-operator/ci/expected-rbac.json and the chart's rules \
            (templates/_helpers.tpl) from `tinyflow operator --print-rbac`
            """)
    }
}
