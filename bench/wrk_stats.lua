-- wrk script used by bench/edge_bench.py.
--
-- * With WRK_PATHS_FILE set (one URL path per line), every thread cycles round-robin through
--   all the paths, each thread starting at a different offset. Requests are formatted once, in
--   init(), so the rotation costs wrk almost nothing per request. Headers given with -H
--   (e.g. Host) are kept.
-- * Without it, wrk sends its single precomputed request (the URL's path), as usual.
-- * done() prints one line "WRKJSON {...}" with the counts and latency percentiles (in µs)
--   that edge_bench.py parses. errors.status counts responses that were not 2xx/3xx.

local thread_count = 0
local threads = {}

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

local reqs = nil
local n = 0
local i = 0

function init(args)
  local file = os.getenv("WRK_PATHS_FILE")
  if file == nil or file == "" then
    return
  end
  reqs = {}
  for line in io.lines(file) do
    if line ~= "" then
      table.insert(reqs, wrk.format(nil, line))
    end
  end
  n = #reqs
  if n == 0 then
    reqs = nil
    return
  end
  -- spread the threads' starting points over the list
  local t = tonumber(tid) or 0
  i = (t * 7919) % n
end

if os.getenv("WRK_PATHS_FILE") ~= nil and os.getenv("WRK_PATHS_FILE") ~= "" then
  request = function()
    i = i + 1
    if i > n then
      i = 1
    end
    return reqs[i]
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
