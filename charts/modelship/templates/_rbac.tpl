{{/* The operator's RBAC rules: rbac.yaml uses them in a ClusterRole, or in a Role per
watched namespace plus a ClusterRole for the cluster-scoped reads. */}}

{{- define "modelship.namespacedRules" -}}
# the objects it reconciles; patch on modeldeployments is a ModelPromotion's direct
# change of its target's spec.model (field manager modelship-promotion), nothing else
- apiGroups: [modelship.io]
  resources: [modeldeployments, modelpromotions]
  verbs: [get, list, watch]
- apiGroups: [modelship.io]
  resources: [modeldeployments]
  verbs: [patch]
- apiGroups: [modelship.io]
  resources: [modeldeployments/status, modelpromotions/status]
  verbs: [get, patch]
# the children it renders, by server-side apply (create + patch), and prunes
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch, create, patch, delete]
# revisions are stored once and never changed
- apiGroups: [apps]
  resources: [controllerrevisions]
  verbs: [get, create]
# retraining and evaluation Jobs: started, watched, pruned; their pods' results
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete]
# runtime pods: readiness, scheduling failures, where to scrape
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
# the drift reference named in spec.drift.reference.configMapRef
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]
# what `kubectl describe` shows
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}
{{- define "modelship.clusterRules" -}}
# free GPUs when a canary starts: the nodes' allocatable GPUs and every pod's requests
- apiGroups: [""]
  resources: [nodes]
  verbs: [list]
- apiGroups: [""]
  resources: [pods]
  verbs: [list]
# kopf, the watching library, follows CRDs to notice watched resources installed or
# removed (read only)
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- end }}
