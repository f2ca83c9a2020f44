@_exported public import ModuleHostAPI
