// Users of the API types always need object metadata and conditions.
@_exported public import KubernetesModels
@_exported public import JSONSchemaKit
