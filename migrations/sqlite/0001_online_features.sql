-- The online feature store (SqliteFeatureStore): one row per scored feature vector.
-- Datetimes are fixed-width ISO-8601 UTC text ('YYYY-MM-DDTHH:MM:SS.ffffff+00:00'), so text order
-- is time order; dates are 'YYYY-MM-DD'. Vector values are little-endian float64 packed in a BLOB
-- (8 bytes per feature, NaN and infinities kept exactly), tagged with their feature schema version.
CREATE TABLE online_features (
    id INTEGER PRIMARY KEY,
    prediction_id TEXT NOT NULL UNIQUE,
    policy_number TEXT NOT NULL,
    as_of TEXT NOT NULL,
    feature_ts TEXT NOT NULL,
    schema_version TEXT NOT NULL,
    n_values INTEGER NOT NULL CHECK (n_values >= 0),
    vector_values BLOB NOT NULL CHECK (length(vector_values) = 8 * n_values)
) STRICT;

CREATE INDEX ix_online_features_policy ON online_features (policy_number, feature_ts, prediction_id);
CREATE INDEX ix_online_features_ts ON online_features (feature_ts, prediction_id);
