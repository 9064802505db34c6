-- wrk script: POST bodies read from a file (one JSON document per line), cycling over them.
--
--   wrk -t1 -c8 -d5s -s bench/loadgen/score.lua http://127.0.0.1:8000 -- BODIES.jsonl /v1/score
--
-- Every request is pre-formatted in init(), so the script costs wrk one table lookup per request.
-- Each thread starts at a different body so threads do not send the same document in lockstep.
-- done() prints one line "WRK_JSON {...}" that bench/loadgen/wrk.py reads: counts, errors and
-- latency percentiles in microseconds (wrk's histogram, 1 us resolution).

local requests = {}
local count = 0
local index = 0

function init(args)
  local path = args[1]
  local target = args[2] or "/v1/score"
  if path == nil then
    error("usage: wrk ... -s score.lua URL -- BODIES_FILE [PATH]")
  end
  local headers = { ["Content-Type"] = "application/json" }
  for line in io.lines(path) do
    if #line > 0 then
      count = count + 1
      requests[count] = wrk.format("POST", target, headers, line)
    end
  end
  if count == 0 then
    error("no request bodies in " .. path)
  end
  index = (offset or 0) % count
end

local started = 0

function setup(thread)
  -- Runs in wrk's main Lua state; thread:set defines a global in the thread's own state.
  thread:set("offset", started * 7919)
  started = started + 1
end

function request()
  index = index % count + 1
  return requests[index]
end

function done(summary, latency, _)
  local e = summary.errors
  local p = {}
  for _, q in ipairs({ 50, 90, 99, 99.9 }) do
    p[#p + 1] = string.format('"%s": %.1f', tostring(q), latency:percentile(q))
  end
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "errors": {"connect": %d, '
      .. '"read": %d, "write": %d, "status": %d, "timeout": %d}, "latency_us": {"min": %.1f, '
      .. '"max": %.1f, "mean": %.1f, "stdev": %.1f, "percentiles": {%s}}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency.min, latency.max, latency.mean, latency.stdev, table.concat(p, ", ")
  ))
end
