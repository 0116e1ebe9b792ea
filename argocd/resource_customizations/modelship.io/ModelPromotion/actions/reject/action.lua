-- `modelship reject`, performed by Argo CD (the identity as in approve/action.lua); the
-- message names Argo CD, since an action takes no text.
local identity = "system:serviceaccount:argocd:argocd-server"
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
local run = 0
if obj.status ~= nil and obj.status.evidence ~= nil then
  run = obj.status.evidence.run
end
obj.metadata.annotations["reject.modelship.io/run-" .. tostring(run) .. ".argocd"] =
    identity .. "\nrejected from Argo CD"
return obj
