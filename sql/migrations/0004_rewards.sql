-- 0004: the rewards catalog, redemptions and the coupons they issue.
--
-- Invariants live in constraints: stock never below zero, costs and
-- discounts positive, a discount reward has exactly one of a value or a
-- percentage, statuses are closed sets, coupon codes are unique.
--
-- Sharding (Citus): `rewards` is a small catalog read by every redemption,
-- so it becomes a reference table (replicated to every node; its row locks
-- still serialise stock changes).  `redemptions` and `coupons` carry
-- member_id first in their primary keys and are distributed by member_id,
-- co-located with members and ledger_entries.  Two things change then:
-- coupons_code_key must include member_id (a coupon is only ever looked up
-- with its member, and 64 random bits keep codes unique in practice), and
-- the look-up of a redemption by id alone (cancel) fans out to every shard.

CREATE TABLE rewards (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code               text NOT NULL CHECK (code ~ '^[a-z0-9_-]{1,32}$'),
    name               text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    kind               text NOT NULL CHECK (kind IN ('gift', 'discount')),
    points_cost        bigint NOT NULL CHECK (points_cost BETWEEN 1 AND 1000000000000),
    discount_value     bigint CHECK (discount_value BETWEEN 1 AND 100000000000),
    discount_pct_x100  integer CHECK (discount_pct_x100 BETWEEN 1 AND 10000),
    stock              bigint CHECK (stock BETWEEN 0 AND 1000000000),
    min_tier           text CHECK (min_tier ~ '^[a-z0-9_-]{1,32}$'),
    per_member_limit   bigint CHECK (per_member_limit BETWEEN 1 AND 1000000),
    valid_from         timestamptz,
    valid_until        timestamptz,
    active             boolean NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT rewards_code_key UNIQUE (code),
    CONSTRAINT rewards_discount_shape CHECK (
        (kind = 'gift' AND discount_value IS NULL AND discount_pct_x100 IS NULL)
        OR (kind = 'discount' AND (discount_value IS NULL) <> (discount_pct_x100 IS NULL))),
    CONSTRAINT rewards_validity_order CHECK (
        valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until)
);

-- One row per redemption; quantity n spent n x points_cost and issued n
-- coupons.  balance_after is the member's balance right after it.
CREATE TABLE redemptions (
    member_id      bigint NOT NULL REFERENCES members (id),
    id             bigint GENERATED ALWAYS AS IDENTITY,
    reward_id      bigint NOT NULL REFERENCES rewards (id),
    quantity       integer NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    points_spent   bigint NOT NULL CHECK (points_spent >= 1),
    balance_after  bigint NOT NULL CHECK (balance_after >= 0),
    status         text NOT NULL DEFAULT 'issued'
                   CHECK (status IN ('issued', 'used', 'cancelled')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    used_at        timestamptz,
    cancelled_at   timestamptz,
    PRIMARY KEY (member_id, id),
    CONSTRAINT redemptions_cancelled_at CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL)),
    CONSTRAINT redemptions_used_at CHECK (status <> 'used' OR used_at IS NOT NULL)
);

-- The per_member_limit sum: the member's live redemptions of one reward.
CREATE INDEX redemptions_member_reward ON redemptions (member_id, reward_id)
    INCLUDE (quantity) WHERE status <> 'cancelled';
-- Cancel addresses a redemption by its id alone.
CREATE INDEX redemptions_id ON redemptions (id);
-- (Keyset pages of a member's redemptions use the primary key.)

CREATE TABLE coupons (
    member_id      bigint NOT NULL REFERENCES members (id),
    id             bigint GENERATED ALWAYS AS IDENTITY,
    redemption_id  bigint NOT NULL,
    code           text NOT NULL CHECK (code ~ '^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{5}$'),
    status         text NOT NULL DEFAULT 'issued'
                   CHECK (status IN ('issued', 'used', 'cancelled')),
    purchase_id    bigint,
    created_at     timestamptz NOT NULL DEFAULT now(),
    used_at        timestamptz,
    PRIMARY KEY (member_id, id),
    FOREIGN KEY (member_id, redemption_id) REFERENCES redemptions (member_id, id),
    CONSTRAINT coupons_code_key UNIQUE (code),
    CONSTRAINT coupons_used_by_purchase CHECK (
        (status = 'used') = (purchase_id IS NOT NULL AND used_at IS NOT NULL))
);

CREATE INDEX coupons_redemption ON coupons (member_id, redemption_id);

-- The purchase that used a coupon (co-located by member_id, so the key
-- survives sharding).  Deferred: a purchase may mark its coupon used before
-- its own row is written, in the same transaction.
ALTER TABLE coupons
    ADD CONSTRAINT coupons_purchase_fkey FOREIGN KEY (member_id, purchase_id)
        REFERENCES purchases (member_id, id) DEFERRABLE INITIALLY DEFERRED;

-- Ledger entries name the redemption that wrote them (0003 added the column).
ALTER TABLE ledger_entries
    ADD CONSTRAINT ledger_entries_redemption_fkey FOREIGN KEY (member_id, redemption_id)
        REFERENCES redemptions (member_id, id);
