"""modelship-runtime: the reference inference server (KServe v1 / Open Inference
Protocol v2 endpoints, Prometheus metrics per product.md, fault knobs for tests).

A separate program from the operator: it imports neither kopf nor a Kubernetes client.
"""
