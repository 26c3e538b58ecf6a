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
-- Building one reads the table once, under a lock that holds writes back
-- for as long (about a second per GB here).
CREATE INDEX purchases_occurred_range ON purchases USING brin (occurred_at)
    WITH (autosummarize = on);
CREATE INDEX ledger_entries_created_range ON ledger_entries USING brin (created_at)
    WITH (autosummarize = on);
