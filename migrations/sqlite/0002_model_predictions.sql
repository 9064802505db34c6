-- The prediction log (SqlitePredictionLog): one row per answered prediction with its lineage.
-- Same text formats as 0001. reason_codes is a JSON array of {feature, contribution, value}.
-- evidence_purged_at records when purge_evidence removed evidence-derived values (disposal audit).
CREATE TABLE model_predictions (
    id INTEGER PRIMARY KEY,
    prediction_id TEXT NOT NULL UNIQUE,
    policy_number TEXT NOT NULL,
    risk_score REAL NOT NULL CHECK (risk_score >= 0.0 AND risk_score <= 1.0),
    risk_class TEXT NOT NULL CHECK (risk_class IN ('preferred', 'standard', 'substandard', 'refer')),
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    feature_schema_version TEXT NOT NULL,
    feature_hash TEXT NOT NULL,
    reason_codes TEXT NOT NULL,
    scored_at TEXT NOT NULL,
    as_of TEXT NOT NULL,
    inference_ms REAL NOT NULL,
    total_ms REAL NOT NULL,
    source TEXT NOT NULL,
    batch_run_id TEXT,
    evidence_purged_at TEXT
) STRICT;

CREATE INDEX ix_model_predictions_policy ON model_predictions (policy_number, scored_at, prediction_id);
CREATE INDEX ix_model_predictions_scored_at ON model_predictions (scored_at, prediction_id);
CREATE INDEX ix_model_predictions_batch_run ON model_predictions (batch_run_id, scored_at, prediction_id)
    WHERE batch_run_id IS NOT NULL;
