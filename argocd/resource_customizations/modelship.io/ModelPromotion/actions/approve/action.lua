-- `modelship approve`, performed by Argo CD. The approval policy admits it only when the
-- annotation's value is the username of the request, and that user holds the approve verb
-- on modelpromotions: Argo CD's own identity, named here (hack/argocd_cm.py --identity and
-- the chart's argocd.identity replace it). Who clicked is in Argo CD's audit log; who may
-- click is Argo CD RBAC (action/modelship.io/ModelPromotion/approve).
local identity = "system:serviceaccount:argocd:argocd-server"
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
local run = 0
if obj.status ~= nil and obj.status.evidence ~= nil then
  run = obj.status.evidence.run
end
obj.metadata.annotations["approve.modelship.io/run-" .. tostring(run) .. ".argocd"] = identity
return obj
