import Expressions
import JSONSchemaKit
import Testing

@Suite("Sharing compiled expressions", .timeLimit(.minutes(2)))
struct ConcurrencyTests {
    @Test("one compiled template renders correctly from many tasks at once")
    func sharedTemplate() async throws {
        let template = try Template(
            compiling: [
                "id": "{{ $.id }}",
                "next": "{{ $.payload.n + 1 }}",
                "label": "item-{{ $.payload.n }}-{{ upper($.payload.name ?? 'none') }}",
                "fixed": ["a": 1],
            ], at: "mapping")
        let results = try await withThrowingTaskGroup(of: (Int, JSONValue).self) { group in
            for n in 0..<200 {
                group.addTask {
                    var last: JSONValue = nil
                    for _ in 0..<50 {
                        last = try template.render(root: [
                            "id": .string("m-\(n)"), "payload": ["n": .integer(n), "name": n.isMultiple(of: 2) ? "even" : nil],
                        ])
                    }
                    return (n, last)
                }
            }
            var collected: [Int: JSONValue] = [:]
            for try await (n, value) in group { collected[n] = value }
            return collected
        }
        #expect(results.count == 200)
        for (n, value) in results {
            let name = n.isMultiple(of: 2) ? "EVEN" : "NONE"
            #expect(
                value == [
                    "id": .string("m-\(n)"), "next": .integer(n + 1), "label": .string("item-\(n)-\(name)"),
                    "fixed": ["a": 1],
                ])
        }
    }

    @Test("one compiled expression evaluates correctly from many tasks at once")
    func sharedExpression() async throws {
        let expression = try Expression("$.a * $.b + len(split($.s, ','))")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<100 {
                group.addTask {
                    let root: JSONValue = ["a": .integer(n), "b": 3, "s": .string(Array(repeating: "x", count: n + 1).joined(separator: ","))]
                    let value = try expression.evaluate(root: root)
                    #expect(value == .integer(n * 3 + n + 1))
                }
            }
            try await group.waitForAll()
        }
    }
}
