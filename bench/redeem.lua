-- redeem.lua - wrk script: POST /v1/members/{id}/redemptions of one unit of
-- the benchmark's reward (BENCH_REWARD, unlimited stock, set up by run.sh)
-- for random loaded members; load.sql gave each of them enough points for
-- every redemption a run can make.  BENCH_IDEMPOTENCY: see common.lua.
dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")

local body = '{"reward_id":"' .. (os.getenv("BENCH_REWARD") or "rwd_1") .. '","quantity":1}'

function bench.init(args)
    wrk.headers["Content-Type"] = "application/json"
end

function request()
    return wrk.format("POST", "/v1/members/" .. bench.random_member() .. "/redemptions",
        bench.write_headers(), body)
end
