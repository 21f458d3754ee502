-- tokens.lua: wrk script for the Gatewarden benchmarks (bench/run.sh).
-- Usage: wrk -t2 -c8 -d5s -s bench/tokens.lua http://127.0.0.1:PORT/ -- TOKENFILE
-- Sends every request with "Authorization: Bearer <token>", cycling through the token file
-- (one token per line); each thread starts at its own offset (golden-ratio spread) so distinct-token sets defeat
-- caches. The requests are prebuilt at init, so wrk's Lua cost per request is one table read.
-- done() prints one line "BENCHJSON {...}" with exact counts and latency percentiles (us).

local threads = {}
local nthreads = 0

function setup(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
  table.insert(threads, thread)
end

local reqs = {}
local idx = 0

function init(args)
  local path = args[1]
  for line in io.lines(path) do
    if #line > 0 then
      reqs[#reqs + 1] = wrk.format("GET", "/", {["Authorization"] = "Bearer " .. line})
    end
  end
  -- spread threads over the set (tid is set by setup): thread k starts at frac(k*0.618)*n
  local f = ((tid or 0) * 0.6180339887) % 1
  idx = math.floor(f * #reqs) % #reqs
end

function request()
  idx = idx + 1
  if idx > #reqs then idx = 1 end
  return reqs[idx]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
