import ControlPlane
import Foundation
import KubernetesClient
import KubernetesModels
import Logging
import Synchronization
enum TestPEM {
    static let certificate = """
        -----BEGIN CERTIFICATE-----
        MIIBlDCCATugAwIBAgIUfoCJCOgZZrUbeSIeOPrkFQdn/GUwCgYIKoZIzj0EAwIw
        HzEdMBsGA1UEAwwUdGlueWZsb3ctdGVzdC1jbGllbnQwIBcNMjYxMTIzMTcwNzIz
        WhgPMjEyNjEwMzAxNzA3MjNaMB8xHTAbBgNVBAMMFHRpbnlmbG93LXRlc3QtY2xp
        ZW50MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEo4/lpPZxiUPYwslBUD76hyis
        U0ctzbB2whgyupznB/hMQEJ/PpNpA1ZrObmbXDFJ5eC16+tKsXmCBbn1qtNERaNT
        MFEwHQYDVR0OBBYEFAkBh0WmXSs60qqPEyeSCNA5B4NlMB8GA1UdIwQYMBaAFAkB
        h0WmXSs60qqPEyeSCNA5B4NlMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID
        RwAwRAIgPINqS5SkP7+RuOt0e867niiofSh/eq7an9ZTijC3VOcCIE8ai+Al75fu
        yJDJSCxl9wEPu72jCwGOyFi7YWWgeQ7T
        -----END CERTIFICATE-----

        """
    static let key = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgsWY/fACCtVae2ySH
        x/7T1k5ovBu4NVBXmfMerB8pRuGhRANCAASjj+Wk9nGJQ9jCyUFQPvqHKKxTRy3N
        sHbCGDK6nOcH+ExAQn8+k2kDVms5uZtcMUnl4LXr60qxeYIFufWq00RF
        -----END PRIVATE KEY-----

        """
}

/// A value behind a lock that closures can capture (a `Mutex` is not copyable).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout sending Value) -> sending R) -> R { mutex.withLock(body) }
}
