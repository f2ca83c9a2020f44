public import CRDModels

/// The cycles of a flow's nodes that nothing in them slows down: a message sent
/// into one goes round as fast as the hosts can carry it, until the hop limit
/// stops it. The operator warns about them (a `Warning` Event and the flow's
/// `Ready` condition message) and runs them all the same.
///
/// Pure: a value computation over the nodes' edges, linear in nodes and edges,
/// made when the flow is reconciled (its spec or one of its nodes changed).
public enum FlowCycles {
    /// The components that pace what passes through them (by `spec.component`):
    /// a cycle through one of them does not storm. The one list of them.
    public static let pacingComponents: Set<String> = ["delay", "rate-limit"]

    /// The cycles among `nodes` (edges from one to another of them; a node with
    /// an edge to itself is a cycle too) that contain no node of a
    /// ``pacingComponents`` component. Each cycle is the names of its nodes
    /// (a strongly connected component of the edge graph), sorted; the cycles
    /// are sorted by their first name. Deleted nodes are left out.
    public static func unpaced(_ nodes: [TinyNode]) -> [[String]] {
        var specs: [String: TinyNodeSpec] = [:]
        for node in nodes where node.metadata.deletionTimestamp == nil {
            if let name = node.metadata.name { specs[name] = node.spec }
        }
        let names = specs.keys.sorted()
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        let successors: [[Int]] = names.map { name in
            (specs[name]?.edges ?? []).compactMap { edge in edge.target.flatMap { index[$0.node] } }
        }
        return StronglyConnected(successors: successors).components
            .filter { component in
                component.count > 1 || component.first.map { successors[$0].contains($0) } == true
            }
            .map { component in component.map { names[$0] }.sorted() }
            .filter { cycle in !cycle.contains { specs[$0].map { pacingComponents.contains($0.component) } ?? false } }
            .sorted { ($0.first ?? "") < ($1.first ?? "") }
    }

    /// The warning about `cycles` (of ``unpaced(_:)``) in a flow whose messages
    /// may make `maxHops` hops; `nil` when there are none.
    public static func warning(_ cycles: [[String]], maxHops: Int) -> String? {
        guard !cycles.isEmpty else { return nil }
        let shown = cycles.prefix(3).map { cycle in
            let nodes = cycle.prefix(8).joined(separator: ", ")
            return "[\(nodes)\(cycle.count > 8 ? ", … \(cycle.count - 8) more" : "")]"
        }.joined(separator: ", ")
        let more = cycles.count > 3 ? " and \(cycles.count - 3) more" : ""
        let subject = cycles.count == 1 ? "a cycle with no delay or rate-limit node" : "\(cycles.count) cycles with no delay or rate-limit node"
        return "the flow has \(subject): \(shown)\(more); a message in it circulates at full speed until it reaches "
            + "the hop limit of \(maxHops) (spec.maxHops), then goes to the error port"
    }
}

/// The strongly connected components of a directed graph of `successors.count`
/// vertices (Tarjan's algorithm without recursion, so a long chain of nodes
/// cannot overflow the stack).
struct StronglyConnected {
    /// Every component, as its vertices.
    private(set) var components: [[Int]] = []

    /// Finds the components of the graph whose vertex `v` has edges to `successors[v]`
    /// (targets out of range are ignored).
    init(successors: [[Int]]) {
        let count = successors.count
        var order = [Int](repeating: -1, count: count)  // discovery index, -1: not yet visited
        var low = [Int](repeating: 0, count: count)
        var onStack = [Bool](repeating: false, count: count)
        var stack: [Int] = []
        var next = 0
        // The depth-first path: a vertex and how many of its successors were looked at.
        var path: [(vertex: Int, edge: Int)] = []
        for root in 0..<count where order[root] < 0 {
            path.append((root, 0))
            order[root] = next
            low[root] = next
            next += 1
            stack.append(root)
            onStack[root] = true
            while let (vertex, edge) = path.last {
                if edge < successors[vertex].count {
                    path[path.count - 1].edge += 1
                    let target = successors[vertex][edge]
                    guard target >= 0, target < count else { continue }
                    if order[target] < 0 {
                        order[target] = next
                        low[target] = next
                        next += 1
                        stack.append(target)
                        onStack[target] = true
                        path.append((target, 0))
                    } else if onStack[target] {
                        low[vertex] = min(low[vertex], order[target])
                    }
                    continue
                }
                path.removeLast()
                if let parent = path.last?.vertex { low[parent] = min(low[parent], low[vertex]) }
                guard low[vertex] == order[vertex] else { continue }
                var component: [Int] = []
                while let member = stack.popLast() {
                    onStack[member] = false
                    component.append(member)
                    if member == vertex { break }
                }
                components.append(component)
            }
        }
    }
}
