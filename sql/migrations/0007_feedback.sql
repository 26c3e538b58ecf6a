-- 0007: feedback - members' surveys and complaints, with the compensation a
-- resolved complaint gave.
--
-- Invariants live in constraints: scores in their scales, texts bounded,
-- statuses a closed set, a resolved complaint has its resolution time and
-- an unresolved one none, and compensation points are given by exactly one
-- ledger entry (ledger_entry_id is set exactly when compensation_points > 0).
--
-- Sharding (Citus): both tables carry member_id first in their primary key
-- and are distributed by member_id, co-located with members, purchases and
-- ledger_entries, so their foreign keys survive.  Rows are only written
-- after their member's row is locked (THE lock order, store/ledger.h).

CREATE TABLE surveys (
    member_id     bigint NOT NULL REFERENCES members (id),
    id            bigint GENERATED ALWAYS AS IDENTITY,
    satisfaction  smallint NOT NULL CHECK (satisfaction BETWEEN 1 AND 5),
    recommend     smallint NOT NULL CHECK (recommend BETWEEN 0 AND 10),
    comment       text CHECK (char_length(comment) <= 1000),
    purchase_id   bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (member_id, id),
    CONSTRAINT surveys_purchase_fkey FOREIGN KEY (member_id, purchase_id)
        REFERENCES purchases (member_id, id)
);

-- The KPI report reads the surveys of a period.
CREATE INDEX surveys_created ON surveys (created_at) INCLUDE (member_id, satisfaction, recommend);

CREATE TABLE complaints (
    member_id            bigint NOT NULL REFERENCES members (id),
    id                   bigint GENERATED ALWAYS AS IDENTITY,
    purchase_id          bigint,
    category             text NOT NULL CHECK (category ~ '^[a-z0-9_-]{1,32}$'),
    text                 text NOT NULL CHECK (char_length(text) BETWEEN 1 AND 2000),
    status               text NOT NULL DEFAULT 'open'
                         CHECK (status IN ('open', 'in_progress', 'resolved', 'rejected')),
    resolution           text CHECK (char_length(resolution) BETWEEN 1 AND 2000),
    compensation_points  bigint NOT NULL DEFAULT 0
                         CHECK (compensation_points BETWEEN 0 AND 1000000000),
    ledger_entry_id      bigint,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    resolved_at          timestamptz,
    PRIMARY KEY (member_id, id),
    CONSTRAINT complaints_purchase_fkey FOREIGN KEY (member_id, purchase_id)
        REFERENCES purchases (member_id, id),
    CONSTRAINT complaints_ledger_entry_fkey FOREIGN KEY (member_id, ledger_entry_id)
        REFERENCES ledger_entries (member_id, id),
    -- One ledger entry compensates one complaint, and only a resolved one.
    CONSTRAINT complaints_ledger_entry_key UNIQUE (member_id, ledger_entry_id),
    CONSTRAINT complaints_compensation_entry CHECK (
        (compensation_points > 0) = (ledger_entry_id IS NOT NULL)),
    CONSTRAINT complaints_compensation_resolved CHECK (
        compensation_points = 0 OR status = 'resolved'),
    CONSTRAINT complaints_resolved_at CHECK ((status = 'resolved') = (resolved_at IS NOT NULL))
);

-- GET /v1/complaints/{id} names a complaint by its id alone.
CREATE INDEX complaints_id ON complaints (id);
-- GET /v1/complaints?status= : keyset pages, newest first, of one status.
-- (?member_id= uses the primary key.)
CREATE INDEX complaints_status_id ON complaints (status, id);
-- The complaints report reads the complaints filed in a period.
CREATE INDEX complaints_created ON complaints (created_at)
    INCLUDE (member_id, category, status, compensation_points, resolved_at);
