"""Canary analysis: measurements of the runtime's metrics turned into verdicts.

``histogram`` reads Prometheus-style cumulative buckets, ``judge`` is the statistical
canary-vs-stable test (a plain function anyone can call on their own counts),
``checks`` turns each spec.analysis check and the numbers read for it into a
``Measurement`` (Pass | Fail | Inconclusive | Error with value, threshold, reason).
All pure: the numbers are read by modelship.metrics (readings.py).
"""
