import Foundation
public import KubernetesClient
import JSONSchemaKit

/// Who the console's user is, for the author of their changes: what the API server
/// says (`SelfSubjectReview`, Kubernetes 1.28+), else the name the kubeconfig gives
/// the user. Only a label in the revision history: authorisation is the API server's.
public enum ConsoleIdentity {
    /// The user's name as the API server knows it, else `fallback`.
    public static func author(client: KubernetesClient, fallback: String?) async -> String? {
        let body = Data(#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#.utf8)
        let request = KubernetesRequest(
            method: "POST", path: "/apis/authentication.k8s.io/v1/selfsubjectreviews", body: body,
            contentType: "application/json", verb: .create, resource: "selfsubjectreviews")
        guard let review = try? await client.send(request, as: JSONValue.self),
            let name = review["status"]?["userInfo"]?["username"]?.stringValue, !name.isEmpty
        else { return fallback }
        return name
    }
}
