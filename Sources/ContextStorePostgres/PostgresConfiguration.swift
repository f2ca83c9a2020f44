import Foundation

extension PostgresContextStore {
    /// Where the PostgreSQL database is and how to reach it, parsed from a libpq-style URL:
    /// `postgres://user:password@host:port/database?sslmode=verify-full&sslrootcert=/ca.pem&pool_max=20`.
    ///
    /// The password never appears in ``description``, ``debugDescription``, ``customMirror``
    /// (so `dump` and `String(reflecting:)` hide it too), ``redacted`` or any error: on a
    /// cluster the URL comes from a Secret.
    public struct Configuration: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
        /// How the connection is protected, as libpq's `sslmode` names it.
        public enum TLSMode: String, Sendable, Hashable, CaseIterable {
            /// Plain TCP.
            case disable
            /// TLS when the server offers it, without checking its certificate (`allow` means the same here).
            case prefer
            /// TLS or no connection; the certificate is not checked.
            case require
            /// TLS with a certificate signed by `sslrootcert` (or the system's roots); any host name.
            case verifyCA = "verify-ca"
            /// TLS with a certificate signed by `sslrootcert` (or the system's roots) for this host name.
            case verifyFull = "verify-full"
        }

        /// The server's host name or IP address.
        public var host: String
        /// The server's TCP port (default 5432).
        public var port: Int
        /// The role to log in as.
        public var user: String
        /// The role's password, if it has one (it may also be set after parsing, e.g. from a mounted Secret).
        public var password: String?
        /// The database; `nil` means the one named like ``user``.
        public var database: String?
        /// How the connection is protected (default `prefer`, as libpq).
        public var tlsMode: TLSMode
        /// The CA certificates (PEM file) `verify-ca` and `verify-full` check the server against;
        /// `nil` uses the system's trust roots.
        public var rootCertificatePath: String?
        /// The most connections the pool opens (default 20).
        public var maxConnections: Int
        /// How long opening one connection may take (default 5 s; URL: `connect_timeout`, seconds).
        public var connectTimeout: Duration
        /// How long one operation may take, waiting for a connection included, before it fails
        /// with ``ContextStoreError/unavailable(store:reason:)`` (default 5 s; URL: `operation_timeout`, seconds).
        public var operationTimeout: Duration
        /// How long ``PostgresContextStore/checkAvailability()`` waits (default 2 s, at most
        /// ``operationTimeout``; URL: `availability_timeout`, seconds).
        public var availabilityTimeout: Duration
        /// Reported to the server as the client's name (default `tinyflow`).
        public var applicationName: String

        /// Creates a configuration from its parts.
        public init(
            host: String, port: Int = 5432, user: String, password: String? = nil, database: String? = nil,
            tlsMode: TLSMode = .prefer, rootCertificatePath: String? = nil, maxConnections: Int = 20,
            connectTimeout: Duration = .seconds(5), operationTimeout: Duration = .seconds(5),
            availabilityTimeout: Duration = .seconds(2), applicationName: String = "tinyflow"
        ) {
            self.host = host
            self.port = port
            self.user = user
            self.password = password
            self.database = database
            self.tlsMode = tlsMode
            self.rootCertificatePath = rootCertificatePath
            self.maxConnections = maxConnections
            self.connectTimeout = connectTimeout
            self.operationTimeout = operationTimeout
            self.availabilityTimeout = availabilityTimeout
            self.applicationName = applicationName
        }

        /// Parses `postgres://` or `postgresql://` URLs; user, password, database and parameter
        /// values are percent-decoded. Throws ``PostgresURLError`` naming the part that is wrong.
        public init(url: String) throws(PostgresURLError) {
            let text = url.trimmingCharacters(in: .whitespacesAndNewlines)
            let rest: Substring
            if text.hasPrefix("postgres://") {
                rest = text.dropFirst("postgres://".count)
            } else if text.hasPrefix("postgresql://") {
                rest = text.dropFirst("postgresql://".count)
            } else {
                throw PostgresURLError(part: "scheme", reason: "the URL must start with postgres:// or postgresql://")
            }
            let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            var afterAuthority = rest[authorityEnd...]

            if !authority.contains("@"), afterAuthority.contains("@") {
                // A user or password with an unencoded `/`, `?` or `#`: never echo any of it.
                throw PostgresURLError(
                    part: "password", reason: "the user or password holds an unencoded /, ? or #: percent-encode it (/ is %2F)")
            }
            var hostAndPort = authority
            var user: String?
            var password: String?
            if let at = authority.lastIndex(of: "@") {
                let userInfo = authority[..<at]
                hostAndPort = authority[authority.index(after: at)...]
                if let colon = userInfo.firstIndex(of: ":") {
                    user = try Self.decode(userInfo[..<colon], part: "user")
                    password = try Self.decode(userInfo[userInfo.index(after: colon)...], part: "password")
                } else {
                    user = try Self.decode(userInfo, part: "user")
                }
            }

            let (host, port) = try Self.parseHostAndPort(hostAndPort)

            var database: String?
            var query: Substring = ""
            if afterAuthority.first == "/" {
                afterAuthority.removeFirst()
                let pathEnd = afterAuthority.firstIndex(of: "?") ?? afterAuthority.endIndex
                let path = afterAuthority[..<pathEnd]
                if path.contains("/") {
                    throw PostgresURLError(part: "database", reason: "the path must be one database name, as in /tinyflow")
                }
                let name = try Self.decode(path, part: "database")
                database = name.isEmpty ? nil : name
                afterAuthority = afterAuthority[pathEnd...]
            }
            if afterAuthority.first == "?" { query = afterAuthority.dropFirst() }

            var configuration = Configuration(host: host, port: port, user: user ?? "", password: password, database: database)
            for parameter in query.split(separator: "&") {
                let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = try Self.decode(pair[0], part: "parameter name")
                let value = try Self.decode(pair.count > 1 ? pair[1] : "", part: name == "password" ? "password" : "parameter \(name)")
                try configuration.apply(parameter: name, value: value)
            }
            if configuration.user.isEmpty {
                throw PostgresURLError(part: "user", reason: "a user is required, as in postgres://tinyflow:PASSWORD@HOST/DATABASE")
            }
            if configuration.tlsMode == .disable, configuration.rootCertificatePath != nil {
                throw PostgresURLError(part: "parameter sslrootcert", reason: "sslmode=disable uses no certificates")
            }
            self = configuration
        }

        /// `postgres://user:***@host:port/database`: what logs, errors and status show.
        public var redacted: String {
            let userInfo = password == nil ? user : "\(user):***"
            let hostPart = host.contains(":") ? "[\(host)]" : host
            return "postgres://\(userInfo)@\(hostPart):\(port)/\(database ?? user)"
        }

        /// The same as ``redacted``: never the password.
        public var description: String { redacted }

        /// ``redacted`` with the settings the URL does not show: never the password.
        public var debugDescription: String {
            "PostgresContextStore.Configuration(\(redacted), sslmode: \(tlsMode.rawValue), pool_max: \(maxConnections), "
                + "connect_timeout: \(connectTimeout), operation_timeout: \(operationTimeout))"
        }

        /// Every field, with the password shown as `***`: what `dump` prints.
        public var customMirror: Mirror {
            Mirror(
                self,
                children: [
                    "host": host, "port": port, "user": user, "password": password.map { _ in "***" } as Any,
                    "database": database as Any, "tlsMode": tlsMode, "rootCertificatePath": rootCertificatePath as Any,
                    "maxConnections": maxConnections, "connectTimeout": connectTimeout, "operationTimeout": operationTimeout,
                    "availabilityTimeout": availabilityTimeout, "applicationName": applicationName,
                ],
                displayStyle: .struct)
        }

        /// The settings every connection sends in its startup packet: the client's name, and
        /// server-side deadlines equal to ``operationTimeout`` (`statement_timeout`,
        /// `lock_timeout`), so a statement the client gave up on does not commit much later or
        /// hold a place in a lock queue.
        package var startupParameters: [(String, String)] {
            let deadline = "\(Self.wholeMilliseconds(operationTimeout))ms"
            return [("application_name", applicationName), ("statement_timeout", deadline), ("lock_timeout", deadline)]
        }

        /// `duration` in milliseconds, rounded up, at least 1 (0 would mean no deadline to the server).
        package static func wholeMilliseconds(_ duration: Duration) -> Int64 {
            let (seconds, attoseconds) = duration.components
            let fraction = attoseconds / 1_000_000_000_000_000 + (attoseconds % 1_000_000_000_000_000 > 0 ? 1 : 0)
            let (milliseconds, overflow) = seconds.multipliedReportingOverflow(by: 1000)
            if overflow { return seconds < 0 ? 1 : Int64(Int32.max) }
            return min(max(1, milliseconds + fraction), Int64(Int32.max))
        }

        private mutating func apply(parameter name: String, value: String) throws(PostgresURLError) {
            switch name {
            case "sslmode":
                switch value {
                case "allow": tlsMode = .prefer
                default:
                    guard let mode = TLSMode(rawValue: value) else {
                        throw PostgresURLError(
                            part: "parameter sslmode",
                            reason: "\"\(value.prefix(32))\" is not one of disable, allow, prefer, require, verify-ca, verify-full")
                    }
                    tlsMode = mode
                }
            case "sslrootcert":
                guard !value.isEmpty else { throw PostgresURLError(part: "parameter sslrootcert", reason: "needs a file path") }
                rootCertificatePath = value
            case "pool_max":
                guard let count = Int(value), count >= 1, count <= 10_000 else {
                    throw PostgresURLError(part: "parameter pool_max", reason: "\"\(value.prefix(32))\" is not a whole number from 1 to 10000")
                }
                maxConnections = count
            case "connect_timeout":
                connectTimeout = try Self.seconds(value, parameter: name)
            case "operation_timeout":
                operationTimeout = try Self.seconds(value, parameter: name)
            case "availability_timeout":
                availabilityTimeout = try Self.seconds(value, parameter: name)
            case "application_name":
                applicationName = value
            case "user":
                user = value
            case "password":
                password = value
            case "dbname":
                database = value.isEmpty ? nil : value
            default:
                throw PostgresURLError(
                    part: "parameter \(name.prefix(32))",
                    reason: "unknown; supported: sslmode, sslrootcert, pool_max, connect_timeout, operation_timeout, "
                        + "availability_timeout, application_name, user, password, dbname")
            }
        }

        private static func seconds(_ value: String, parameter: String) throws(PostgresURLError) -> Duration {
            guard let seconds = Double(value), seconds.isFinite, seconds > 0, seconds <= 86_400 else {
                throw PostgresURLError(part: "parameter \(parameter)", reason: "\"\(value.prefix(32))\" is not a number of seconds above 0")
            }
            return .milliseconds(Int64((seconds * 1000).rounded(.up)))
        }

        private static func parseHostAndPort(_ text: Substring) throws(PostgresURLError) -> (String, Int) {
            var host: Substring
            var portText: Substring?
            if text.first == "[" {
                guard let close = text.firstIndex(of: "]") else {
                    throw PostgresURLError(part: "host", reason: "an IPv6 address must be closed with ]")
                }
                host = text[text.index(after: text.startIndex)..<close]
                let after = text[text.index(after: close)...]
                if !after.isEmpty {
                    guard after.first == ":" else { throw PostgresURLError(part: "port", reason: "expected :PORT after the IPv6 address") }
                    portText = after.dropFirst()
                }
            } else if let colon = text.lastIndex(of: ":") {
                host = text[..<colon]
                portText = text[text.index(after: colon)...]
            } else {
                host = text
            }
            guard !host.isEmpty else {
                throw PostgresURLError(part: "host", reason: "a host is required, as in postgres://USER:PASSWORD@postgres:5432/DATABASE")
            }
            if host.contains(where: { $0 == "," }) {
                throw PostgresURLError(part: "host", reason: "several hosts are not supported")
            }
            if host.contains(where: { $0.isWhitespace || $0 == "@" || $0 == "%" }) {
                throw PostgresURLError(part: "host", reason: "not a host name or IP address")
            }
            var port = 5432
            if let portText {
                guard let number = Int(portText), (1...65_535).contains(number) else {
                    throw PostgresURLError(part: "port", reason: "not a port number from 1 to 65535")
                }
                port = number
            }
            return (String(host), port)
        }

        private static func decode(_ text: Substring, part: String) throws(PostgresURLError) -> String {
            guard let decoded = String(text).removingPercentEncoding else {
                throw PostgresURLError(part: part, reason: "invalid percent-encoding")
            }
            return decoded
        }
    }
}

/// A PostgreSQL URL that cannot be used: names the part that is wrong, never the password.
public struct PostgresURLError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The part of the URL that is wrong: `scheme`, `user`, `password`, `host`, `port`, `database`, `parameter NAME`.
    public var part: String
    /// What is wrong with it.
    public var reason: String

    /// Creates the error.
    public init(part: String, reason: String) {
        self.part = part
        self.reason = reason
    }

    /// `invalid PostgreSQL URL: port: "x" is not a port number from 1 to 65535`.
    public var description: String { "invalid PostgreSQL URL: \(part): \(reason)" }
}
