"""Data drift: the training reference, per-feature drift scores, and drift verdicts.

``reference`` is the documented JSON format (docs/drift.md) and how it is built from
training data (from rows the caller reads); ``methods`` is the registry of drift
methods; ``scores`` computes PSI, Jensen-Shannon distance, normalised
Wasserstein, binned KS and chi-square from reference and live bin counts;
``assess`` decides which features drifted, holding the false-alarm rate at every
window size. All pure (numpy/scipy).
"""
