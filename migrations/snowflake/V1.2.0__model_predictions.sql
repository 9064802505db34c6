-- riskscore: the prediction log, one row per answered prediction with its full lineage
-- (FCRA / NAIC #668: model name and version, feature schema version, a hash of the feature vector,
-- reason codes and timestamps).
--
-- A standard table (append-mostly, scanned by time for monitoring). Snowflake does not enforce the
-- primary key of a standard table; the adapter keeps it unique by writing with MERGE on PREDICTION_ID.
-- SCORE_DATE is when the prediction was made (UTC, TIMESTAMP_NTZ); AS_OF is the evidence date;
-- INFERENCE_MS and TOTAL_MS are the model call and whole-request latencies in milliseconds; SOURCE is
-- 'api', 'service-function', 'rescore', ...; BATCH_RUN_ID groups a batch rescoring run.
-- Retention: a purge of a policy's evidence nulls the feature values copied into REASON_CODES and
-- stamps EVIDENCE_PURGED_AT; the decision record itself is kept. LOADED_AT is when the row arrived
-- (LOADED_AT - SCORE_DATE is the audit trail's delivery lag).

CREATE TABLE IF NOT EXISTS {{ database }}.ML_MODELS.MODEL_PREDICTIONS (
    PREDICTION_ID          VARCHAR(128)  NOT NULL,
    POLICY_NUMBER          VARCHAR(128)  NOT NULL,
    PREDICTION             FLOAT         NOT NULL,
    RISK_CLASS             VARCHAR(16)   NOT NULL,
    MODEL_NAME             VARCHAR(255)  NOT NULL,
    MODEL_VERSION          VARCHAR(64)   NOT NULL,
    FEATURE_SCHEMA_VERSION VARCHAR(64)   NOT NULL,
    FEATURE_HASH           VARCHAR(64)   NOT NULL,
    REASON_CODES           VARIANT,
    SCORE_DATE             TIMESTAMP_NTZ NOT NULL,
    AS_OF                  DATE          NOT NULL,
    INFERENCE_MS           FLOAT,
    TOTAL_MS               FLOAT,
    SOURCE                 VARCHAR(32)   NOT NULL,
    BATCH_RUN_ID           VARCHAR(128),
    EVIDENCE_PURGED_AT     TIMESTAMP_NTZ,
    LOADED_AT              TIMESTAMP_LTZ DEFAULT CURRENT_TIMESTAMP(),
    CONSTRAINT PK_MODEL_PREDICTIONS PRIMARY KEY (PREDICTION_ID)
);
