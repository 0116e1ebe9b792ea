-- Argo CD health of a modelship.io ModelPromotion, from what the operator reports.
-- Runs with the libraries Argo CD gives argocd-cm scripts (base, table, a safe os;
-- no string library), so it uses none other.
local hs = {}
local status = obj.status
local generation = obj.metadata.generation
if status == nil or status.observedGeneration == nil or generation == nil
    or status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the spec to be observed"
  return hs
end

local phase = status.phase or "Pending"
local message = status.message or ""
local function said(what)
  if message == "" then
    return what
  end
  return what .. ": " .. message
end

if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = said("Succeeded")
elseif phase == "Failed" then
  hs.status = "Degraded"
  local reason = "Failed"
  if status.evidence ~= nil and status.evidence.reason ~= nil then
    reason = status.evidence.reason
  end
  hs.message = said(reason)
elseif phase == "WaitingForApproval" then
  -- it waits for people, not for the cluster: Argo CD's word for that is Suspended
  hs.status = "Suspended"
  hs.message = said("WaitingForApproval")
else
  hs.status = "Progressing"
  hs.message = said(phase)
end

for _, c in ipairs(status.conditions or {}) do
  if c.type == "Reconciled" and c.status == "False" and hs.status ~= "Degraded" then
    -- the operator retries with backoff; it is news, not a verdict
    hs.message = hs.message .. " (" .. (c.reason or "") .. ": " .. (c.message or "") .. ")"
  end
end
return hs
