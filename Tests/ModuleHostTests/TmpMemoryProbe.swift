import CommonComponents
import ComponentKit
import Foundation
import Glibc
import NodeChannels
import Logging
import ModuleHost
import TestSupport
import Testing

@_silgen_name("malloc_trim") func trim(_ pad: Int) -> Int32

@Test("tmp memory probe") func tmpMemoryProbe() async throws {
    func rss() -> Int {
        let text = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? "0 0"
        let pages = Int(text.split(separator: " ")[1]) ?? 0
        return pages * 4096
    }
    try await withRuntime(CommonModule.definition) { runtime in
        let before = rss()
        let count = 20_000
        let nodes = (0..<count).map { definition("n\($0)", "signal") }
        _ = await runtime.sync(DesiredNodes(generation: 1, nodes: nodes))
        try await Task.sleep(for: .seconds(1))
        let after = rss()
        _ = trim(0)
        print("BYTES PER NODE", (after - before) / count, "AFTER TRIM", (rss() - before) / count)
    }
}



@Test("tmp task probe") func tmpTaskProbe() async throws {
    func rss() -> Int {
        let text = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? "0 0"
        return (Int(text.split(separator: " ")[1]) ?? 0) * 4096
    }
    let count = 20_000
    let channels = (0..<count).map { _ in NodeChannel<Int>(capacity: 64) }
    let before = rss()
    await withDiscardingTaskGroup { group in
        for channel in channels {
            group.addTask {
                var batch: [Int] = []
                while (try? await channel.next(into: &batch, upTo: 32)) == true { batch.removeAll() }
            }
        }
        try? await Task.sleep(for: .seconds(1))
        print("TASK BYTES", (rss() - before) / count)
        for channel in channels { channel.finish() }
    }
}

@Test("tmp object probe") func tmpObjectProbe() async throws {
    func rss() -> Int {
        let text = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? "0 0"
        return (Int(text.split(separator: " ")[1]) ?? 0) * 4096
    }
    let count = 20_000
    let before = rss()
    var keep: [NodeContext] = []
    for i in 0..<count {
        keep.append(NodeContext(node: "n\(i)", configurations: [:], logger: Logger(label: "x")))
    }
    print("CONTEXT BYTES", (rss() - before) / count)
    let before2 = rss()
    var keep2: [any Component] = []
    for _ in 0..<count { keep2.append(Signal()) }
    print("COMPONENT BYTES", (rss() - before2) / count, keep.count, keep2.count)
    let before3 = rss()
    let descriptions = (0..<1000).map { _ in Signal.componentDescription }
    print("DESCRIPTION BYTES", (rss() - before3) / 1000, descriptions.count)
}
