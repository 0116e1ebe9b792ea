-- approve and reject, enabled while a run can still take them (the run is open and has
-- not changed its target yet), as `modelship approve` / `modelship reject` would, and
-- not once Argo CD has approved or rejected this run. Argo CD applies an action with
-- its own identity, so the approval is Argo CD's: see approve/action.lua.
local actions = {}
local open = false
if obj.status ~= nil and obj.status.evidence ~= nil then
  local run = obj.status.evidence
  local annotations = obj.metadata.annotations or {}
  local slot = "run-" .. tostring(run.run) .. ".argocd"
  local voted = annotations["approve.modelship.io/" .. slot] ~= nil
      or annotations["reject.modelship.io/" .. slot] ~= nil
  open = run.outcome == "Running" and run.promotedAt == nil and not voted
end
actions["approve"] = {["disabled"] = not open}
actions["reject"] = {["disabled"] = not open}
return actions
