-- common.lua - what every wrk script of the benchmark shares: a number and a
-- random seed per thread, the bearer token, random member ids, and one
-- machine-readable summary line (BENCH_JSON) that report.py parses.
--
-- Loaded with dofile() by balance.lua, purchase.lua and redeem.lua.  Its
-- settings come from the environment that run.sh sets:
--   BENCH_TOKEN                 API key sent as Bearer
--   BENCH_MEMBER_MIN/_MAX       the loaded members' numeric ids (inclusive)
--   BENCH_SEED                  varies the random sequence between runs
--   BENCH_IDEMPOTENCY           1: writes carry a fresh Idempotency-Key each
--                               (BENCH_TAG, the thread, a counter), as a till
--                               that retries sends; run.sh sets it for
--                               the *_keyed endpoints only
-- Must not define response(): wrk then skips parsing headers and bodies,
-- which would otherwise cost the load generator CPU the daemon needs.

local threads = {}
local nthreads = 0

bench = {
    token = os.getenv("BENCH_TOKEN") or "",
    member_min = tonumber(os.getenv("BENCH_MEMBER_MIN") or "1"),
    member_max = tonumber(os.getenv("BENCH_MEMBER_MAX") or "1"),
    seed = tonumber(os.getenv("BENCH_SEED") or "1"),
}

function bench.random_member()
    return "mem_" .. math.random(bench.member_min, bench.member_max)
end

local keyed = os.getenv("BENCH_IDEMPOTENCY") == "1"
local key_tag = os.getenv("BENCH_TAG") or "run"
local key_counter = 0

-- The headers for a write: nil (wrk.headers) or, with BENCH_IDEMPOTENCY,
-- a copy of them with a fresh Idempotency-Key (wrk.format takes a table
-- instead of wrk.headers, not besides them).
function bench.write_headers()
    if not keyed then
        return nil
    end
    local headers = {}
    for name, value in pairs(wrk.headers) do
        headers[name] = value
    end
    key_counter = key_counter + 1
    headers["Idempotency-Key"] = string.format("%s-%d-%d", key_tag, tid, key_counter)
    return headers
end

function setup(thread)
    nthreads = nthreads + 1
    thread:set("tid", nthreads)
    table.insert(threads, thread)
end

-- Called once per thread, in that thread's own Lua state.
function init(args)
    math.randomseed(bench.seed * 7919 + (tid or 0) * 104729)
    wrk.headers["Authorization"] = "Bearer " .. bench.token
    if bench.init then
        bench.init(args)
    end
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'BENCH_JSON {"requests":%d,"duration_us":%d,"status_errors":%d,"connect_errors":%d,' ..
        '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,' ..
        '"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
        summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
        latency.mean))
end
