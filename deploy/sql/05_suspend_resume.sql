-- riskscore on SPCS: stop paying when idle, start again, check, roll out a new image.
-- A suspended service keeps its definition and DNS name; FN_API_PREDICT fails until it resumes.
-- Suspending both services lets the compute pool suspend after AUTO_SUSPEND_SECS.

USE ROLE RISKSCORE_APP;
USE DATABASE RISKSCORE;
USE SCHEMA ML_MODELS;

-- Suspend (API first, so no request reaches a stopped model service).
ALTER SERVICE IF EXISTS EVIDENCE_API_SERVICE SUSPEND;
ALTER SERVICE IF EXISTS RISK_MODEL_SVC SUSPEND;
ALTER COMPUTE POOL IF EXISTS RISKSCORE_POOL SUSPEND;

-- Resume (model service first: the API is ready only once a model answers).
ALTER COMPUTE POOL IF EXISTS RISKSCORE_POOL RESUME;
ALTER SERVICE IF EXISTS RISK_MODEL_SVC RESUME;
ALTER SERVICE IF EXISTS EVIDENCE_API_SERVICE RESUME;

-- State, instances and logs.
SHOW SERVICES IN SCHEMA RISKSCORE.ML_MODELS;
SELECT SYSTEM$GET_SERVICE_STATUS('RISKSCORE.ML_MODELS.EVIDENCE_API_SERVICE');
SELECT SYSTEM$GET_SERVICE_LOGS('RISKSCORE.ML_MODELS.EVIDENCE_API_SERVICE', 0, 'evidence-api', 100);

-- Scale between one and three API instances.
ALTER SERVICE IF EXISTS EVIDENCE_API_SERVICE SET MIN_INSTANCES = 1 MAX_INSTANCES = 3;
