-- POST the body of the file args[2] to args[1] (the bare ceiling's POST).
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")
local body, path

function init(args)
  path = args[1]
  local f = assert(io.open(args[2], "rb"))
  body = f:read("*a")
  f:close()
end

function request()
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end
