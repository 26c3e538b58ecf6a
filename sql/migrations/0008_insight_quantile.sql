-- 0008: the insight snapshot may decide "high" by a quantile of the buyers
-- (rules insight.high = "quantile", insight.quantile = q), besides their mean
-- or median; the snapshot records which.
ALTER TABLE insight_snapshots DROP CONSTRAINT insight_snapshots_high_check,
    ADD CONSTRAINT insight_snapshots_high_check CHECK (high IN ('mean', 'median', 'quantile'));
