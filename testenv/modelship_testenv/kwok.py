"""kwok's configuration: which stages make fake nodes and pods behave like real ones."""

from __future__ import annotations

from pathlib import Path

# kwok's fast stages make a pod Ready once, while Pending. A kubelet also restores
# Ready on a Running pod after the node lifecycle controller marked it NotReady (as it
# does when a node lease is late); this stage does that.
POD_READY_AGAIN_STAGE = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: modelship-pod-ready-again
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values: ['Running']
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values: ['True']
  next:
    statusTemplate: |
      conditions:
      - lastProbeTime: null
        lastTransitionTime: {{ Now | Quote }}
        status: "True"
        type: Ready
"""

# From the kwok module's kustomize/stage/ (copied into the cache by the build script).
STAGE_FILES = (
    ("node", "fast", "node-initialize.yaml"),
    ("node", "heartbeat-with-lease", "node-heartbeat-with-lease.yaml"),
    ("pod", "fast", "pod-ready.yaml"),
    ("pod", "fast", "pod-complete.yaml"),
    ("pod", "fast", "pod-delete.yaml"),
)


# Pods with this label run as real local processes (modelship_testenv/jobrunner.py), which
# report how they ended; kwok must not complete them first.
LOCAL_RUN = "modelship.io/local-run"
_JOB_OWNED = """    - key: '.metadata.ownerReferences.[].kind'
      operator: 'In'
      values:
      - 'Job'
"""
_NOT_LOCAL = f"""    - key: '.metadata.labels["{LOCAL_RUN}"]'
      operator: 'DoesNotExist'
"""


def write_kwok_config(stages: Path, target: Path) -> Path:
    """One file with kwok's stages plus ours; FileNotFoundError names what is missing."""
    files = [stages.joinpath(*parts) for parts in STAGE_FILES]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise FileNotFoundError(f"kwok stage configs missing from the cache: {missing}")
    docs = [f.read_text() for f in files]
    docs = [
        d.replace(_JOB_OWNED, _JOB_OWNED + _NOT_LOCAL) if "pod-complete" in d else d for d in docs
    ]
    if not any(_NOT_LOCAL in d for d in docs):
        raise ValueError("kwok's pod-complete stage changed shape: cannot exempt local runs")
    docs.append(POD_READY_AGAIN_STAGE)
    target.write_text("\n---\n".join(docs))
    return target
