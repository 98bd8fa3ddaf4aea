"""ImageBind-compatible networks, the model registry and checkpoints."""
