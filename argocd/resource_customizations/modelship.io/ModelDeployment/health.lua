-- Argo CD health of a modelship.io ModelDeployment, from what the operator reports.
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

local conditions = {}
for _, c in ipairs(status.conditions or {}) do
  conditions[c.type] = c
end
local function said(c)
  if c.message ~= nil and c.message ~= "" then
    return c.reason .. ": " .. c.message
  end
  return c.reason
end

local degraded = conditions["Degraded"]
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = said(degraded)
  return hs
end

local canary = status.canary
if status.phase == "Paused" or (canary ~= nil and canary.phase == "Paused") then
  hs.status = "Suspended"
  if canary ~= nil and canary.message ~= nil then
    hs.message = "Canary " .. canary.revision.modelVersion .. " paused at " ..
        tostring(canary.weight) .. "%: " .. canary.message
  else
    hs.message = "Paused"
  end
  return hs
end

local ready = conditions["Ready"]
local progressing = conditions["Progressing"]
if ready ~= nil and ready.status == "True"
    and (progressing == nil or progressing.status ~= "True") then
  hs.status = "Healthy"
  hs.message = said(ready)
  return hs
end

hs.status = "Progressing"
if progressing ~= nil and progressing.status == "True" then
  hs.message = said(progressing)
elseif ready ~= nil then
  hs.message = said(ready)
else
  hs.message = "Waiting for the rollout"
end
local reconciled = conditions["Reconciled"]
if reconciled ~= nil and reconciled.status == "False" then
  -- the operator retries with backoff; it is news, not a verdict
  hs.message = hs.message .. " (" .. said(reconciled) .. ")"
end
return hs
