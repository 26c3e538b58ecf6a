-- 0009: block-range (BRIN) indexes for the statements that read purchases
-- or ledger entries by time alone, across members: the kpis report, the
-- insight snapshot and the concentration report of a period, the rules
-- simulation's window, the daily job's tier windows.  Without them each
-- reads the whole table, however short the period: on a history of two
-- years a month's report read 24 months of rows.
--
-- BRIN, not B-tree: both tables are appended in time order (purchases
-- arrive as they happen, within a till's offline spell; ledger entries
-- are stamped at insert), so each range of pages holds a narrow span of
-- time, the index is a few pages, and an insert adds nothing to it until
-- its range is summarised (autosummarize, when the range fills).  A
-- B-tree would add an entry, and its WAL, to every purchase's commit.
--
-- Building one reads the table once (about a second per GB here), longer
-- than the migration connection's statement_timeout allows on a large
-- database, hence the SET LOCAL.  Meanwhile the table is locked against
-- writes: other daemons' purchases wait, and fail after their 5 s lock
-- timeout.  On a large live database, create both indexes beforehand with
-- CREATE INDEX CONCURRENTLY and these exact names and definitions; the
-- migration then finds them and skips them.
SET LOCAL statement_timeout = 0;
CREATE INDEX IF NOT EXISTS purchases_occurred_range ON purchases USING brin (occurred_at)
    WITH (autosummarize = on);
CREATE INDEX IF NOT EXISTS ledger_entries_created_range ON ledger_entries
    USING brin (created_at) WITH (autosummarize = on);
