"""The built-in models, each a module with ``build_model(input_shape, n_classes, **params)``:
the same shape as an organizer's own model module (docs/competitions.md)."""

# the names core.model_config accepts (a test checks they agree; the sandbox does not bind core)
BUILTIN_MODELS = ("mlp", "cnn", "resnet18")
