-- balance.lua - wrk script: GET /v1/members/{id}/balance for random loaded
-- members.
dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")

function request()
    return wrk.format("GET", "/v1/members/" .. bench.random_member() .. "/balance")
end
