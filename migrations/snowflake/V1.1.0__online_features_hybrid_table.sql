-- riskscore: the online feature store, one row per scored feature vector.
--
-- Keyed by PREDICTION_ID: the audit trail delivers each prediction at least once and the adapter
-- writes with MERGE on this key, so a redelivery is a no-op. The secondary index serves
-- "latest features of a policy" (WHERE POLICY_NUMBER = ? ORDER BY FEATURE_TS DESC LIMIT 1) with an
-- index range scan. FEATURES is a VARIANT (a JSON array of numbers in the order of the feature schema
-- FEATURE_SCHEMA_VERSION names); VARIANT columns cannot be keys or indexed, and need not be.
-- Timestamps are UTC without a zone (TIMESTAMP_NTZ).

CREATE HYBRID TABLE IF NOT EXISTS {{ database }}.HYBRID_REALTIME.HT_ONLINE_FEATURES (
    PREDICTION_ID          VARCHAR(128)  NOT NULL PRIMARY KEY,
    POLICY_NUMBER          VARCHAR(128)  NOT NULL,
    FEATURE_TS             TIMESTAMP_NTZ NOT NULL,
    AS_OF                  DATE          NOT NULL,
    FEATURE_SCHEMA_VERSION VARCHAR(64)   NOT NULL,
    FEATURES               VARIANT       NOT NULL,
    INDEX IX_ONLINE_FEATURES_POLICY_TS (POLICY_NUMBER, FEATURE_TS)
);
