"""Pure renderers: ModelDeployment -> Kubernetes object dicts. No I/O, no clock."""
