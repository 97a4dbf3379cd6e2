-- GET args[2] with the bearer tokens of the file args[1] in turn (empty file: no token).
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")
local tokens, path, n = {}, "/", 0

function init(args)
  tokens = read_lines(args[1])
  path = args[2]
end

function request()
  n = n + 1
  local headers = {}
  if #tokens > 0 then headers["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1] end
  return wrk.format("GET", path, headers, nil)
end
