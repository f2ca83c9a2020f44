public import Foundation

/// The whole text of a file under /proc, read until its end.
///
/// `String(contentsOfFile:)` trusts the size the file reports, which is 0 for /proc files:
/// it stops after one page (about 4 KiB), so a table such as /proc/net/tcp or /proc/locks is
/// cut short as soon as it grows — under a loaded test run, exactly when it matters.
public func procFileText(_ path: String) -> String? {
    guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
    defer { try? handle.close() }
    guard let data = try? handle.readToEnd() else { return nil }
    return String(decoding: data, as: UTF8.self)
}
