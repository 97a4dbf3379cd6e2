-- POST /api/v1/me/checkins: subjects of the token file args[1] in turn, a fresh id each time,
-- a location inside the permitted area, taken now.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")
local tokens, n = {}, 0

function init(args)
  tokens = read_lines(args[1])
  math.randomseed(os.time() + 7919 * id)
end

local function uuid4()
  local r = math.random
  return string.format("%08x-%04x-4%03x-%04x-%06x%06x", r(0, 0x7fffffff), r(0, 0xffff),
    r(0, 0xfff), 0x8000 + r(0, 0x3fff), r(0, 0xffffff), r(0, 0xffffff))
end

function request()
  n = n + 1
  local body = string.format(
    '{"id":"%s","kind":"location","occurred_at":"%s","lon":%.6f,"lat":%.6f,"accuracy_m":15.0}',
    uuid4(), os.date("!%Y-%m-%dT%H:%M:%SZ"), 120.87 + math.random() * 0.02,
    31.99 + math.random() * 0.02)
  return wrk.format("POST", "/api/v1/me/checkins", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1],
  }, body)
end
