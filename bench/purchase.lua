-- purchase.lua - wrk script: POST /v1/purchases for random loaded members,
-- each with a pos_transaction_id no other request of any run has used:
-- BENCH_TAG (unique per wrk run, set by run.sh), the thread number and a
-- per-thread counter.  The basket is fixed (three lines in three
-- categories, one of them a multiplier category) so that every request runs
-- the same statements as bench/pgbench/purchase.sql.  No Idempotency-Key
-- (the POS id is the purchase's own idempotency guard) unless
-- BENCH_IDEMPOTENCY (common.lua).
dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")

local tag = os.getenv("BENCH_TAG") or "run"
local store = os.getenv("BENCH_STORE") or "S001"
local counter = 0
local stamp_second = -1
local stamp = ""

local body_format = '{"store_id":"' .. store .. '","terminal_id":"T01",' ..
    '"pos_transaction_id":"%s","member_id":"%s","occurred_at":"%s",' ..
    '"items":[{"sku":"A1","category":"fresh","quantity":2,"unit_price":1250},' ..
    '{"sku":"B7","category":"grocery","quantity":1,"unit_price":3999},' ..
    '{"sku":"C3","category":"household","quantity":3,"unit_price":560}]}'

function bench.init(args)
    wrk.headers["Content-Type"] = "application/json"
end

-- The time of the sale: now, formatted once a second.
local function occurred_at()
    local t = os.time()
    if t ~= stamp_second then
        stamp_second = t
        stamp = os.date("!%Y-%m-%dT%H:%M:%SZ", t)
    end
    return stamp
end

function request()
    counter = counter + 1
    local pos_id = string.format("%s-%d-%d", tag, tid, counter)
    local body = string.format(body_format, pos_id, bench.random_member(), occurred_at())
    return wrk.format("POST", "/v1/purchases", bench.write_headers(), body)
end
