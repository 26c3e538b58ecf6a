-- redeem.lua - wrk script: POST /v1/members/{id}/redemptions of one unit of
-- the benchmark's reward (BENCH_REWARD, unlimited stock, set up by run.sh)
-- for random loaded members; load.sql gave each of them enough points for
-- every redemption a run can make.  With BENCH_IDEMPOTENCY=1 each request
-- carries an Idempotency-Key no other has used (BENCH_TAG, the thread and a
-- counter), as a till that retries sends; run.sh sends none, as
-- bench/pgbench/redeem.sql assumes.
dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")

local body = '{"reward_id":"' .. (os.getenv("BENCH_REWARD") or "rwd_1") .. '","quantity":1}'
local keyed = os.getenv("BENCH_IDEMPOTENCY") == "1"
local tag = os.getenv("BENCH_TAG") or "run"
local counter = 0

function bench.init(args)
    wrk.headers["Content-Type"] = "application/json"
end

function request()
    local headers = nil
    if keyed then
        -- wrk.format takes these instead of wrk.headers, not besides them.
        headers = {}
        for name, value in pairs(wrk.headers) do
            headers[name] = value
        end
        counter = counter + 1
        headers["Idempotency-Key"] = string.format("%s-%d-%d", tag, tid, counter)
    end
    return wrk.format("POST", "/v1/members/" .. bench.random_member() .. "/redemptions", headers,
        body)
end
