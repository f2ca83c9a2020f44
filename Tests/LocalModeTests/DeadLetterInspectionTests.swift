import ComponentKit
import Foundation
@testable import LocalMode
import MessageStoreAPI
import ModuleHostAPI
import Testing

@Suite("tinyflow dlq: selections, table and JSON")
struct DeadLetterInspectionTests {
    typealias Selection = DeadLetterInspection.Selection

    @Test(
        "replay and purge act on nothing unnamed: they need --flow, --node, --id or --all",
        arguments: [DeadLetterRequest.Operation.replay, .purge])
    func bareReplayAndPurgeAreRefused(operation: DeadLetterRequest.Operation) throws {
        #expect {
            try Selection().validate(for: operation)
        } throws: { error in
            "\(error)".contains("\(operation.rawValue) needs a selection") && "\(error)".contains("--all")
        }
        try Selection(all: true).validate(for: operation)
        try Selection(flow: "shop").validate(for: operation)
        try Selection(node: "counter").validate(for: operation)
        try Selection(ids: [1, 2]).validate(for: operation)
        try Selection(node: "counter", ids: [1]).validate(for: operation)
    }

    @Test("list needs no selection")
    func listTakesAnything() throws {
        try Selection().validate(for: .list)
        try Selection(flow: "shop", ids: [3]).validate(for: .list)
    }

    @Test(
        "--flow and --node exclude each other, --all excludes the others, and deleting queues is the operator's",
        arguments: [
            (Selection(flow: "shop", node: "counter"), DeadLetterRequest.Operation.list, "--flow and --node"),
            (Selection(flow: "shop", all: true), .purge, "--all selects every dead letter"),
            (Selection(ids: [1], all: true), .replay, "--all selects every dead letter"),
            (Selection(node: "counter"), .deleteQueues, "the operator's job"),
        ])
    func conflictingSelections(selection: Selection, operation: DeadLetterRequest.Operation, says: String) {
        #expect {
            try selection.validate(for: operation)
        } throws: { error in
            "\(error)".contains(says)
        }
    }

    static let deadLetter = DeadLetter(
        id: 42, queue: DurableQueue(namespace: "shop", node: "counter", port: "in"),
        edge: DurableEdge(node: "ticker", edge: "to-counter"),
        message: Message(
            id: "m-1", from: PortAddress(node: "ticker", port: "out"), to: PortAddress(node: "counter", port: "in"),
            payload: ["tick": 3]),
        attempts: 5, reason: .attemptsExhausted, lastError: "division by zero\nat line 3",
        enqueuedAt: Date(timeIntervalSince1970: 1_700_000_000), deadLetteredAt: Date(timeIntervalSince1970: 1_700_000_060))

    @Test("the table has one row per dead letter, times in UTC, errors on one line and cut to width")
    func table() {
        var long = Self.deadLetter
        long.id = 7
        long.reason = .expired
        long.lastError = String(repeating: "x", count: 100)
        let lines = DeadLetterInspection.table([Self.deadLetter, long], errorWidth: 20).split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[0].split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            == "ID NODE:PORT EDGE ATTEMPTS REASON DEAD-LETTERED AT ERROR")
        let columns = lines[1].components(separatedBy: "   ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        #expect(columns == ["42", "counter:in", "ticker/to-counter", "5", "attemptsExhausted", "2023-11-14T22:14:20Z", "division by zero at…"])
        #expect(lines[2].hasSuffix(String(repeating: "x", count: 19) + "…"))
        #expect(lines[2].contains("expired"))
    }

    @Test("show prints the dead letter as JSON with its message, times in ISO 8601, that decodes back")
    func json() throws {
        let text = try DeadLetterInspection.json(Self.deadLetter)
        #expect(text.contains(#""deadLetteredAt" : "2023-11-14T22:14:20Z""#))
        #expect(text.contains(#""tick" : 3"#))
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        #expect(try decoder.decode(DeadLetter.self, from: Data(text.utf8)) == Self.deadLetter)
    }
}
