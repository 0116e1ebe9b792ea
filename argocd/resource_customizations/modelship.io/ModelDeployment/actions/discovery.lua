-- The actions `modelship` offers on the command line, enabled when the CLI would accept
-- them (promote, promote-full, abort, retry, pause, resume).
local actions = {}
local canary = nil
if obj.status ~= nil then
  canary = obj.status.canary
end
local annotations = obj.metadata.annotations or {}
local paused = annotations["modelship.io/paused"] == "true"
local running = canary ~= nil and canary.phase ~= "Aborted"
local movable = running and canary.phase ~= "Promoting"

actions["promote"] = {["disabled"] = not movable}
actions["promote-full"] = {["disabled"] = not movable}
actions["abort"] = {["disabled"] = not running}
actions["retry"] = {["disabled"] = canary == nil or canary.phase ~= "Aborted"}
actions["pause"] = {["disabled"] = not running or paused}
actions["resume"] = {["disabled"] = not paused}
return actions
