-- `modelship resume`: modelship.io/paused is a level ("true" holds the canary).
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["modelship.io/paused"] = "false"
return obj
