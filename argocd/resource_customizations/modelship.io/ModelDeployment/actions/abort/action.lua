-- `modelship abort`: asks once, with a value the operator has not handled yet.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["modelship.io/abort"] = "argocd-" .. tostring(os.time()) .. "-" ..
    tostring(obj.metadata.resourceVersion or "0")
return obj
