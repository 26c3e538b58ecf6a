-- 0006: knowing the members - the RFM segment and life-cycle stage of every
-- member as of a local date, refreshed by the daily job in set-based
-- statements (src/store/insight.c), and what the reports read.
--
-- member_insights holds one row per member that is not closed: the latest
-- snapshot only (the member's `segment` and `lifecycle_stage`, and the
-- purchase context's facts member.segment / member.lifecycle_stage).
-- insight_snapshots records each snapshot date, the thresholds it used and
-- its counts; insight_groups keeps, per snapshot date, the members counted
-- by (enrolment store, tier, segment, stage), so the segments and lifecycle
-- reports read a few hundred rows instead of a million.
--
-- Sharding (Citus): member_insights carries member_id as its key and is
-- distributed by it, co-located with members; the other two are small
-- reference tables.

CREATE TABLE member_insights (
    member_id         bigint PRIMARY KEY REFERENCES members (id),
    snapshot_date     date NOT NULL,
    -- Local days from the last purchase in the RFM period to snapshot_date;
    -- NULL (with frequency 0) when the member bought nothing in the period.
    recency_days      integer CHECK (recency_days >= 0),
    frequency         bigint NOT NULL CHECK (frequency >= 0),
    -- Net spend (returns deducted) in the RFM period, minor units.
    monetary          bigint NOT NULL CHECK (monetary >= 0),
    -- monetary less the value of the points those purchases earned, at the
    -- redemption rate of the refresh (the concentration report's margin).
    margin            bigint NOT NULL,
    -- The local date of the last purchase on or before snapshot_date, ever.
    last_purchase_on  date,
    segment           text CHECK (segment IN (
                          'important-value', 'important-develop', 'important-keep',
                          'important-retain', 'general-value', 'general-develop',
                          'general-keep', 'general-retain')),
    lifecycle_stage   text CHECK (lifecycle_stage IN ('active', 'silent', 'forgetting', 'lost')),
    CONSTRAINT member_insights_segment_buyers CHECK ((segment IS NULL) = (frequency = 0)),
    CONSTRAINT member_insights_stage_buyers CHECK ((lifecycle_stage IS NULL) = (last_purchase_on IS NULL))
);

CREATE TABLE insight_snapshots (
    snapshot_date     date PRIMARY KEY,
    period_from       date NOT NULL,
    period_to         date NOT NULL,
    high              text NOT NULL CHECK (high IN ('mean', 'median')),
    -- The thresholds, rounded to 4 decimals for reading; the assignment
    -- compares exactly (integer cross-multiplication, see insight.c).
    recency_threshold    numeric NOT NULL,
    frequency_threshold  numeric NOT NULL,
    monetary_threshold   numeric NOT NULL,
    silent_days       integer NOT NULL,
    forgetting_days   integer NOT NULL,
    lost_days         integer NOT NULL,
    members           bigint NOT NULL,
    buyers            bigint NOT NULL,
    CHECK (period_from <= period_to)
);

CREATE TABLE insight_groups (
    snapshot_date     date NOT NULL REFERENCES insight_snapshots (snapshot_date) ON DELETE CASCADE,
    enrolled_store    text,
    tier              text NOT NULL,
    segment           text,
    lifecycle_stage   text,
    members           bigint NOT NULL CHECK (members > 0),
    spend             bigint NOT NULL CHECK (spend >= 0)
);
CREATE INDEX insight_groups_date ON insight_groups (snapshot_date);

-- The buyers of a snapshot's RFM period cut into spend deciles, for each
-- filter: by_store / by_tier say whether the rows are for one store / one
-- tier (then enrolled_store / tier name it; NULL enrolled_store is the
-- members without one) or for all of them.
CREATE TABLE insight_deciles (
    snapshot_date     date NOT NULL REFERENCES insight_snapshots (snapshot_date) ON DELETE CASCADE,
    by_store          boolean NOT NULL,
    enrolled_store    text,
    by_tier           boolean NOT NULL,
    tier              text,
    decile            integer NOT NULL CHECK (decile BETWEEN 1 AND 10),
    members           bigint NOT NULL CHECK (members > 0),
    spend             bigint NOT NULL CHECK (spend >= 0),
    margin            bigint NOT NULL
);
CREATE INDEX insight_deciles_date ON insight_deciles (snapshot_date);
