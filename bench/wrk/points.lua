-- POST /api/v1/rounds/{id}/points, 500 fresh points a request. Run with as many threads as
-- connections: thread k is patrol member k (line k+1 of the file args[1]: "token round_id"),
-- uploading its own round oldest first. args[2]: epoch milliseconds of the first point;
-- args[3]: an id prefix, different for every wrk run against the same rounds.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")
local token, round_id, start_ms, prefix, i = nil, nil, 0, 0, 0
local BATCH = 500

function init(args)
  local lines = read_lines(args[1])
  token, round_id = lines[id + 1]:match("(%S+)%s+(%S+)")
  start_ms = tonumber(args[2])
  prefix = tonumber(args[3]) * 4096 + id
end

function request()
  local parts = {}
  for k = 0, BATCH - 1 do
    local seq = i * BATCH + k
    local at_ms = start_ms + seq * 5
    local sec = math.floor(at_ms / 1000)
    parts[k + 1] = string.format(
      '{"id":"%08x-0000-4000-8000-%012x","ts":"%s.%03dZ","lon":%.6f,"lat":32.004,' ..
      '"accuracy_m":8.0,"speed_mps":1.3}',
      prefix, seq, os.date("!%Y-%m-%dT%H:%M:%S", sec), at_ms - sec * 1000,
      120.861 + (seq % 900) * 0.00001)
  end
  i = i + 1
  return wrk.format("POST", "/api/v1/rounds/" .. round_id .. "/points", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, '{"points":[' .. table.concat(parts, ",") .. ']}')
end
