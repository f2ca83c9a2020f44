import Foundation

/// The permission bits of the file or directory at `path` (e.g. `0o600`), `nil` if it is missing.
public func permissions(of path: String) -> Int? {
    guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
    return (attributes[.posixPermissions] as? NSNumber)?.intValue
}

/// Every file and directory under `directory` (not `directory` itself), as absolute paths,
/// with their permission bits and whether each is a directory.
public func permissionsBelow(_ directory: URL) -> [(path: String, mode: Int, isDirectory: Bool)] {
    let root = directory.path
    guard let names = FileManager.default.subpaths(atPath: root) else { return [] }
    return names.sorted().compactMap { name in
        let path = root + "/" + name
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue
        else { return nil }  // gone meanwhile
        return (path, mode, attributes[.type] as? FileAttributeType == .typeDirectory)
    }
}

/// `0o600` as `"0600"`, for messages.
public func octal(_ mode: Int?) -> String {
    mode.map { "0" + String($0, radix: 8) } ?? "missing"
}
