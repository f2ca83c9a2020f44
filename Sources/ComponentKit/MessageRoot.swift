extension Message {
    /// The value expressions and mappings see as `$`: `{"payload", "id",
    /// "from", "to", "priority", "traceparent", "hops"}` of this message.
    public var expressionRoot: JSONValue {
        var root: [String: JSONValue] = [
            "payload": payload, "id": .string(id), "priority": .integer(priority), "hops": .integer(hops),
        ]
        if let from { root["from"] = .string(from.description) }
        if let to { root["to"] = .string(to.description) }
        if let traceparent { root["traceparent"] = .string(traceparent) }
        return .object(root)
    }
}
