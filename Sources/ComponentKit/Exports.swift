// Component authors import ComponentKit only: JSON values, schemas and the
// API's catalogue types come with it.
@_exported public import ContextStoreAPI
@_exported public import CRDModels
@_exported public import JSONSchemaKit
