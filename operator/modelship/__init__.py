"""modelship: a Kubernetes operator that runs machine-learning models in production."""

__version__ = "0.1.0"
