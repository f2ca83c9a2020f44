import ContextStoreAPI
import Foundation
import JSONSchemaKit

/// A ``ContextMutation`` checked against the store's limits, its value encoded: what a
/// settlement applies inside its transaction (``WriteConnection/apply(_:now:maxKeysPerScope:)``)
/// once every check that needs no database has passed.
struct PreparedMutation: Sendable {
    /// What the mutation does.
    enum Change: Sendable {
        /// Writes the JSON text (`nil`: deletes the key) if the key's version meets `expecting`.
        case write(encoded: String?, ttl: Duration?, expecting: ExpectedVersion)
        /// Adds `amount` to the integer under the key.
        case increment(amount: Int, ttl: Duration?)
    }

    let key: String
    let scope: ContextScope
    let change: Change

    /// Checks `mutation`'s key (and value) against `limits`, throwing what the context store's
    /// own `set` or `increment` would.
    init(_ mutation: ContextMutation, limits: ContextLimits) throws(ContextStoreError) {
        try limits.check(key: mutation.key)
        key = mutation.key
        scope = mutation.scope
        switch mutation {
        case .write(let key, _, let value, let ttl, let expecting):
            let encoded = try value.map { value throws(ContextStoreError) in try limits.encode(value, key: key) }
            change = .write(encoded: encoded, ttl: ttl, expecting: expecting)
        case .increment(_, _, let amount, let ttl):
            change = .increment(amount: amount, ttl: ttl)
        }
    }
}

extension WriteConnection {
    /// Applies `mutation` inside the open transaction, with the context store's own rules:
    /// a new key must fit its scope's key limit, every write takes the next version of the
    /// store-wide sequence. A write whose expected version does not hold throws
    /// ``ContextStoreError/conflict(key:attempts:)`` with 1 attempt (the caller rolls back).
    func apply(_ mutation: PreparedMutation, now: Int64, maxKeysPerScope: Int) throws {
        let key = mutation.key
        let scope = mutation.scope
        switch mutation.change {
        case .write(let encoded, let ttl, let expecting):
            let current = try current(key, in: scope, now: now, readingValue: false)
            guard expecting.isMet(by: current?.version) else { throw ContextStoreError.conflict(key: key, attempts: 1) }
            guard let encoded else {
                try remove(key, in: scope)
                return
            }
            if current == nil { try makeRoomForNewKey(in: scope, now: now, limit: maxKeysPerScope) }
            try write(key, encoded, in: scope, expiresAt: SQLiteContextStore.expiry(now: now, ttl: ttl))
        case .increment(let amount, let ttl):
            try increment(key, by: amount, in: scope, ttl: ttl, now: now, maxKeysPerScope: maxKeysPerScope)
        }
    }

    /// ``SQLiteContextStore/increment(_:by:in:ttl:)`` inside the open transaction: adds
    /// `amount` to the integer under `key` (absent or expired: 0), keeping a live key's expiry
    /// and giving a new key `ttl`; returns the sum.
    @discardableResult
    func increment(
        _ key: String, by amount: Int, in scope: ContextScope, ttl: Duration?, now: Int64, maxKeysPerScope: Int
    ) throws -> Int {
        let sum: Int
        let expiresAt: Int64?
        if let current = try current(key, in: scope, now: now, readingValue: true) {
            let (result, overflow) = try SQLiteContextStore.integer(current.value, key: key).addingReportingOverflow(amount)
            if overflow { throw ContextStoreError.overflow(key: key) }
            sum = result
            expiresAt = current.expiresAt
        } else {
            try makeRoomForNewKey(in: scope, now: now, limit: maxKeysPerScope)
            sum = amount
            expiresAt = SQLiteContextStore.expiry(now: now, ttl: ttl)
        }
        try write(key, String(sum), in: scope, expiresAt: expiresAt)
        return sum
    }
}
