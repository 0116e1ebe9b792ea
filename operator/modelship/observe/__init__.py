"""Observe: read everything one reconcile's decision may use into a typed snapshot.

The I/O half of a controller (the Kubernetes API through modelship.kube and the
watch-fed cache, metrics through modelship.metrics); what to read is asked of the
same pure functions the decision uses, so nothing is read that cannot matter.
"""
