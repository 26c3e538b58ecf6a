-- 0001: members, credentials, idempotency records and the points ledger.
--
-- Invariants live in constraints: money and points are bigint, statuses and
-- roles are closed sets, look-up values are unique.  Every member-owned table
-- carries member_id first in its primary key so it can later be distributed
-- by member_id.

CREATE TABLE members (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    card_number     text NOT NULL CHECK (card_number ~ '^[0-9]{6,32}$'),
    name            text CHECK (char_length(name) BETWEEN 1 AND 100),
    phone           text CHECK (phone ~ '^\+?[0-9]{5,20}$'),
    email           text CHECK (char_length(email) BETWEEN 3 AND 254),
    birthday        date,
    status          text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'suspended', 'closed')),
    tier            text NOT NULL DEFAULT 'basic',
    points_balance  bigint NOT NULL DEFAULT 0,
    referral_code   text NOT NULL,
    referred_by     bigint REFERENCES members (id),
    enrolled_store  text,
    enrolled_at     timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT members_card_number_key UNIQUE (card_number),
    CONSTRAINT members_referral_code_key UNIQUE (referral_code),
    CONSTRAINT members_not_self_referred CHECK (referred_by <> id),
    CONSTRAINT members_closed_erased CHECK (
        status <> 'closed' OR (name IS NULL AND phone IS NULL AND email IS NULL
                               AND birthday IS NULL))
) WITH (fillfactor = 90);

-- Phone and email are unique among members that still have them; erasing a
-- member frees them.  Email is unique and matched case-insensitively.
CREATE UNIQUE INDEX members_phone_key ON members (phone) WHERE phone IS NOT NULL;
CREATE UNIQUE INDEX members_email_key ON members (lower(email)) WHERE email IS NOT NULL;

CREATE TABLE api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    role        text NOT NULL CHECK (role IN ('admin', 'pos', 'app')),
    store_id    text CHECK (store_id ~ '^[A-Za-z0-9._-]{1,64}$'),
    key_hash    bytea NOT NULL CHECK (octet_length(key_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);

CREATE TABLE member_tokens (
    member_id   bigint NOT NULL REFERENCES members (id),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    token_hash  bytea NOT NULL CHECK (octet_length(token_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    PRIMARY KEY (member_id, id),
    CONSTRAINT member_tokens_token_hash_key UNIQUE (token_hash)
);

-- Every daemon caches credentials; any change that can take one away tells
-- them all (LISTEN loyalty_auth), whoever made it.
CREATE FUNCTION loyalty_notify_auth() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('loyalty_auth', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_changed AFTER UPDATE OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION loyalty_notify_auth();
CREATE TRIGGER member_tokens_changed AFTER UPDATE OR DELETE ON member_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION loyalty_notify_auth();

-- One row per (credential, method, path, Idempotency-Key).  Written in the
-- same transaction as the effects of the request it records, so a key is
-- either recorded with its response or not at all.
CREATE TABLE idempotency_keys (
    scope         text NOT NULL,
    method        text NOT NULL,
    path          text NOT NULL,
    key           text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 200),
    request_hash  bytea NOT NULL,
    status        integer,
    body          text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, method, path, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- The points ledger: append-only; every entry records the balance after it,
-- and a member's entries always sum to members.points_balance.
CREATE TABLE ledger_entries (
    member_id      bigint NOT NULL REFERENCES members (id),
    id             bigint GENERATED ALWAYS AS IDENTITY,
    kind           text NOT NULL CHECK (kind IN ('earn', 'bonus', 'birthday', 'referral',
                        'redeem', 'redeem_cancel', 'return', 'adjust', 'expire')),
    points         bigint NOT NULL,
    balance_after  bigint NOT NULL,
    reason         text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz,
    PRIMARY KEY (member_id, id)
);
