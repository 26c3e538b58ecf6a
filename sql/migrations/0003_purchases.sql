-- 0003: purchases, their lines, the POS transaction claims, and what the
-- ledger and the members table need for them.
--
-- Invariants live in constraints: money and points are non-negative bigint,
-- a purchase's totals add up, a line's amount is quantity x unit_price, and
-- a (store_id, pos_transaction_id) pair is recorded once.
--
-- Ready to shard (Citus).  Every member-owned table carries member_id first
-- in its primary key and every purchase writes rows of one member only, so
-- purchases, purchase_lines and ledger_entries can be distributed by
-- member_id, co-located with members.  A UNIQUE constraint that does not
-- include the distribution column cannot be enforced per shard, so the
-- global POS uniqueness does not live on purchases: it lives in the small
-- claim table pos_transactions, keyed by (store_id, pos_transaction_id) and
-- distributed by store_id.  A purchase claims its POS id with
-- INSERT ... ON CONFLICT DO NOTHING in the same transaction that writes it,
-- so claim and purchase commit together or not at all.  For the same reason
-- the claim has no foreign key to purchases (the two would live on
-- different shards); the purchase transaction is what keeps them paired.
-- The look-up of a purchase by its id alone (GET /v1/purchases/{id}) then
-- fans out to every shard, which is acceptable for a single-row read.

-- Purchase ids come from one sequence so that a purchase's id is known
-- before its row is written: the stored response (which shows the id) is
-- written in the same statement as the row.
CREATE SEQUENCE purchase_ids AS bigint;

CREATE TABLE purchases (
    member_id           bigint NOT NULL REFERENCES members (id),
    id                  bigint NOT NULL DEFAULT nextval('purchase_ids'),
    store_id            text NOT NULL CHECK (store_id ~ '^[A-Za-z0-9._-]{1,64}$'),
    terminal_id         text NOT NULL CHECK (char_length(terminal_id) BETWEEN 1 AND 64),
    pos_transaction_id  text NOT NULL CHECK (pos_transaction_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    occurred_at         timestamptz NOT NULL,
    subtotal            bigint NOT NULL CHECK (subtotal >= 0),
    discount_total      bigint NOT NULL CHECK (discount_total BETWEEN 0 AND subtotal),
    redeemed_value      bigint NOT NULL CHECK (redeemed_value >= 0),
    total_due           bigint NOT NULL CHECK (total_due >= 0),
    points_earned       bigint NOT NULL CHECK (points_earned >= 0),
    points_redeemed     bigint NOT NULL CHECK (points_redeemed >= 0),
    -- Cash paid on non-excluded lines: what tier qualification and referral
    -- count.  Returns lower it (never below zero), so that the qualifying
    -- spend, a sum over this column, stays right.
    net_spend           bigint NOT NULL CHECK (net_spend >= 0),
    tier_before         text NOT NULL,
    tier_after          text NOT NULL,
    rules_version       bigint NOT NULL CHECK (rules_version >= 1),
    coupon_code         text,
    -- SHA-256 of the request's canonical text (member, items, occurred_at,
    -- redeem_points, coupon_code): what a replay of the POS id must match.
    request_hash        bytea NOT NULL CHECK (octet_length(request_hash) = 32),
    -- The response body exactly as first sent, so a replay answers the
    -- identical bytes.
    result              text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, id),
    CONSTRAINT purchases_total_due CHECK (total_due = subtotal - discount_total - redeemed_value)
);

-- GET /v1/purchases/{id} names the purchase by its id alone.
CREATE INDEX purchases_id ON purchases (id);
-- Qualifying spend: the net spend of a member's purchases in a trailing
-- window, read with the member row locked on every purchase and on every
-- balance view.  INCLUDE lets it come from the index alone.
CREATE INDEX purchases_member_occurred ON purchases (member_id, occurred_at) INCLUDE (net_spend);
-- (Keyset pages of a member's purchases, newest first, use the primary key.)

CREATE TABLE purchase_lines (
    member_id          bigint NOT NULL,
    purchase_id        bigint NOT NULL,
    line_no            integer NOT NULL CHECK (line_no BETWEEN 1 AND 500),
    sku                text NOT NULL CHECK (char_length(sku) BETWEEN 1 AND 64),
    category           text NOT NULL CHECK (char_length(category) BETWEEN 1 AND 32),
    quantity           bigint NOT NULL CHECK (quantity BETWEEN 1 AND 100000),
    unit_price         bigint NOT NULL CHECK (unit_price BETWEEN 0 AND 100000000000),
    amount             bigint NOT NULL,
    discount           bigint NOT NULL,
    redeemed_share     bigint NOT NULL CHECK (redeemed_share >= 0),
    net_spend          bigint NOT NULL CHECK (net_spend >= 0),
    points             bigint NOT NULL CHECK (points >= 0),
    returned_quantity  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (member_id, purchase_id, line_no),
    FOREIGN KEY (member_id, purchase_id) REFERENCES purchases (member_id, id),
    CONSTRAINT purchase_lines_amount CHECK (amount = quantity * unit_price),
    CONSTRAINT purchase_lines_discount CHECK (discount BETWEEN 0 AND amount),
    CONSTRAINT purchase_lines_paid CHECK (discount + redeemed_share <= amount),
    CONSTRAINT purchase_lines_returned CHECK (returned_quantity BETWEEN 0 AND quantity)
);

-- The global uniqueness of a POS transaction (see the top of this file).
CREATE TABLE pos_transactions (
    store_id            text NOT NULL,
    pos_transaction_id  text NOT NULL,
    member_id           bigint NOT NULL,
    purchase_id         bigint NOT NULL,
    PRIMARY KEY (store_id, pos_transaction_id)
);

-- Ledger entries say which purchase or redemption wrote them.  Entries and
-- purchases are co-located by member_id, so this foreign key survives
-- sharding; redemptions arrive in a later migration.
ALTER TABLE ledger_entries
    ADD COLUMN purchase_id bigint,
    ADD COLUMN redemption_id bigint,
    ADD CONSTRAINT ledger_entries_purchase_fkey
        FOREIGN KEY (member_id, purchase_id) REFERENCES purchases (member_id, id);
-- (Keyset pages of a member's entries, newest first, use the primary key
-- (member_id, id); ids of one member are assigned under its row lock, so id
-- order is commit order and a page boundary never skips a late commit.)

-- Facts the rules' conditions read (member.purchase_count,
-- member.days_since_last_purchase), kept in the purchase transaction: the
-- member row is locked and written by it anyway.  The members table already
-- has fillfactor 90, which leaves room for these updates to stay HOT.
ALTER TABLE members
    ADD COLUMN purchase_count bigint NOT NULL DEFAULT 0 CHECK (purchase_count >= 0),
    ADD COLUMN last_purchase_at timestamptz;
