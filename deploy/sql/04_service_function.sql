-- riskscore on SPCS, step 6: score from SQL.
-- FN_API_PREDICT posts batches of rows to EVIDENCE_API_SERVICE (endpoint `api`) in the external-function
-- format; each row comes back as the REST answer object, or {"error": {...}} for bad evidence (the rest
-- of the batch is still scored). The service answers 429/503 when overloaded, which Snowflake retries
-- (MAX_BATCH_RETRIES) with backoff. MAX_BATCH_ROWS keeps a batch of two 1 MiB documents per row well
-- under the API's body limit (RISKSCORE_MAX_BATCH_BYTES, 64 MiB).

USE ROLE RISKSCORE_APP;
USE DATABASE RISKSCORE;
USE SCHEMA ML_MODELS;

CREATE OR REPLACE FUNCTION RISKSCORE.ML_MODELS.FN_API_PREDICT(
    policy_number VARCHAR, mib_xml VARCHAR, rx_xml VARCHAR
)
    RETURNS VARIANT
    SERVICE = RISKSCORE.ML_MODELS.EVIDENCE_API_SERVICE
    ENDPOINT = api
    MAX_BATCH_ROWS = 20
    MAX_BATCH_RETRIES = 5
    ON_BATCH_FAILURE = ABORT
    BATCH_TIMEOUT_SECS = 300
    AS '/v1/service-function/score';

-- Callers need the function and the service's endpoints (the default service role).
GRANT USAGE ON FUNCTION RISKSCORE.ML_MODELS.FN_API_PREDICT(VARCHAR, VARCHAR, VARCHAR)
    TO ROLE RISKSCORE_READER;
GRANT SERVICE ROLE RISKSCORE.ML_MODELS.EVIDENCE_API_SERVICE!ALL_ENDPOINTS_USAGE
    TO ROLE RISKSCORE_READER;

-- Example: the reference samples of the public Snowflake demo.
SELECT
    r.value:risk_score::FLOAT       AS risk_score,
    r.value:risk_class::STRING      AS risk_class,
    r.value:model_version::STRING   AS model_version,
    r.value:reason_codes            AS reason_codes
FROM (
    SELECT FN_API_PREDICT(
        'TEST-001',
        '<?xml version="1.0"?><Response><ResponseData>CODE1</ResponseData></Response>',
        '<?xml version="1.0"?><IntelRXResponse><DrugFill><DrugGenericName>METFORMIN</DrugGenericName></DrugFill></IntelRXResponse>'
    ) AS value
) AS r;
