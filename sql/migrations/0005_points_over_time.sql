-- 0005: points over time - lots (expiry and pending), returns, birthday
-- gifts, referral grants, tier history and the daily job's record.
--
-- Lots.  Every positive ledger entry starts one lot: the points it added
-- that are still unspent, the last local day they are valid (`expires_on`)
-- and the first local day they may be spent (`available_on`).  Negative
-- entries take points out of lots, spendable lots first, then by the
-- soonest expiry, then the oldest.  A member in debt (negative balance, left
-- by a return of points already spent) has no unspent lots; a later
-- positive entry repays the debt first and only the rest becomes a lot.  So
-- for every member:  sum(remaining) = greatest(points_balance, 0)
-- (`loyaltyd check` verifies it with the ledger's own invariant).  Expiry for
-- a day is then one set-based statement over the partial index on
-- expires_on, never a loop over members.
--
-- Sharding (Citus): every table here carries member_id first in its key and
-- is distributed by member_id, co-located with members; daily_jobs is a
-- small reference table.

CREATE TABLE point_lots (
    member_id     bigint NOT NULL,
    entry_id      bigint NOT NULL,
    points        bigint NOT NULL CHECK (points > 0),
    remaining     bigint NOT NULL CHECK (remaining BETWEEN 0 AND points),
    expires_on    date NOT NULL,
    available_on  date NOT NULL,
    -- Pending lots (available_on after the day they were written) are
    -- released by the daily job of their available_on; spending decides by
    -- the date alone, so a late job changes no balance, only its count.
    released      boolean NOT NULL,
    PRIMARY KEY (member_id, entry_id),
    FOREIGN KEY (member_id, entry_id) REFERENCES ledger_entries (member_id, id)
);

-- A member's unspent lots, in the order spending takes them.
CREATE INDEX point_lots_live ON point_lots (member_id, expires_on, entry_id)
    INCLUDE (remaining, available_on) WHERE remaining > 0;
-- The daily job: what expires, and what is released, on a day.
CREATE INDEX point_lots_expiring ON point_lots (expires_on) WHERE remaining > 0;
CREATE INDEX point_lots_pending ON point_lots (available_on) WHERE NOT released;

-- Balances from before lots existed become one lot per member, valid for a
-- year from the migration (the first expiry a member can see).
INSERT INTO point_lots (member_id, entry_id, points, remaining, expires_on, available_on, released)
SELECT m.id, l.id, m.points_balance, m.points_balance,
       (date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') + interval '13 months'
        - interval '1 day')::date,
       (now() AT TIME ZONE 'Asia/Shanghai')::date, true
FROM members m
JOIN LATERAL (SELECT max(id) AS id FROM ledger_entries WHERE member_id = m.id) l ON true
WHERE m.points_balance > 0;

-- Returns.  A return is recorded once per (purchase, pos_return_id); like a
-- purchase it keeps the request's fingerprint and the response as sent, so
-- a replay answers the identical bytes.
CREATE TABLE purchase_returns (
    member_id          bigint NOT NULL,
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    purchase_id        bigint NOT NULL,
    pos_return_id      text NOT NULL CHECK (pos_return_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    points_taken       bigint NOT NULL CHECK (points_taken >= 0),
    points_given       bigint NOT NULL CHECK (points_given >= 0),
    net_spend_returned bigint NOT NULL CHECK (net_spend_returned >= 0),
    request_hash       bytea NOT NULL CHECK (octet_length(request_hash) = 32),
    result             text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, id),
    CONSTRAINT purchase_returns_pos_key UNIQUE (member_id, purchase_id, pos_return_id),
    FOREIGN KEY (member_id, purchase_id) REFERENCES purchases (member_id, id)
);
CREATE INDEX purchase_returns_id ON purchase_returns (id);

-- What earlier returns took from each line: the next return's floors and
-- "the last units take the rest" need them.
ALTER TABLE purchase_lines
    ADD COLUMN returned_points bigint NOT NULL DEFAULT 0 CHECK (returned_points >= 0),
    ADD COLUMN returned_redeemed_points bigint NOT NULL DEFAULT 0
        CHECK (returned_redeemed_points >= 0),
    ADD COLUMN returned_net_spend bigint NOT NULL DEFAULT 0 CHECK (returned_net_spend >= 0),
    ADD CONSTRAINT purchase_lines_returned_points CHECK (returned_points <= points);

-- Promotion bonus points of a purchase: taken back only by the return that
-- completes a full return.  Backfilled from the ledger's bonus entries.
ALTER TABLE purchases
    ADD COLUMN bonus_points bigint NOT NULL DEFAULT 0 CHECK (bonus_points >= 0),
    ADD COLUMN fully_returned boolean NOT NULL DEFAULT false;
UPDATE purchases p SET bonus_points = b.points
FROM (SELECT member_id, purchase_id, sum(points) AS points FROM ledger_entries
      WHERE kind = 'bonus' AND purchase_id IS NOT NULL GROUP BY member_id, purchase_id) b
WHERE p.member_id = b.member_id AND p.id = b.purchase_id;

ALTER TABLE ledger_entries
    ADD COLUMN return_id bigint,
    ADD CONSTRAINT ledger_entries_return_fkey FOREIGN KEY (member_id, return_id)
        REFERENCES purchase_returns (member_id, id);

-- Referral: granted once per referred member (the referee), on its first
-- purchase whose net spend reaches min_first_purchase.
ALTER TABLE members ADD COLUMN referral_granted_at timestamptz;

-- Birthday gifts: one per member per calendar year, whoever runs the job
-- and however often.
CREATE TABLE birthday_gifts (
    member_id  bigint NOT NULL,
    year       integer NOT NULL CHECK (year BETWEEN 1900 AND 9999),
    entry_id   bigint NOT NULL,
    job_date   date NOT NULL,
    PRIMARY KEY (member_id, year),
    FOREIGN KEY (member_id, entry_id) REFERENCES ledger_entries (member_id, id)
);

-- Every tier change, up (a purchase) or down (the daily job).
CREATE TABLE tier_history (
    member_id         bigint NOT NULL REFERENCES members (id),
    id                bigint GENERATED ALWAYS AS IDENTITY,
    from_tier         text NOT NULL,
    to_tier           text NOT NULL,
    reason            text NOT NULL CHECK (reason IN ('purchase', 'downgrade')),
    purchase_id       bigint,
    qualifying_spend  bigint NOT NULL CHECK (qualifying_spend >= 0),
    effective_on      date NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, id),
    FOREIGN KEY (member_id, purchase_id) REFERENCES purchases (member_id, id)
);

-- Tier upgrades recorded before this migration.
INSERT INTO tier_history (member_id, from_tier, to_tier, reason, purchase_id, qualifying_spend,
                          effective_on, created_at)
SELECT member_id, tier_before, tier_after, 'purchase', id, 0,
       (occurred_at AT TIME ZONE 'Asia/Shanghai')::date, created_at
FROM purchases WHERE tier_before <> tier_after ORDER BY created_at, id;

-- The daily job's record: which dates have run (catch-up starts after the
-- latest) and what all runs of a date did together.
CREATE TABLE daily_jobs (
    job_date        date PRIMARY KEY,
    runs            integer NOT NULL DEFAULT 0,
    birthday_gifts  bigint NOT NULL DEFAULT 0,
    released        bigint NOT NULL DEFAULT 0,
    expired_points  bigint NOT NULL DEFAULT 0,
    downgrades      bigint NOT NULL DEFAULT 0,
    first_run_at    timestamptz NOT NULL DEFAULT now(),
    last_run_at     timestamptz NOT NULL DEFAULT now()
);
