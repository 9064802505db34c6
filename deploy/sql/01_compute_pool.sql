-- riskscore on SPCS, step 1: the compute pool both services run on.
-- CPU_X64_S (2 vCPU, ~8 GiB) fits one API and one model-service instance; MAX_NODES bounds the cost
-- of scaling out (see deploy/README.md, "Costs"). AUTO_SUSPEND_SECS stops the nodes when no service
-- runs on them.

USE ROLE RISKSCORE_APP;

CREATE COMPUTE POOL IF NOT EXISTS RISKSCORE_POOL
    MIN_NODES = 1
    MAX_NODES = 3
    INSTANCE_FAMILY = CPU_X64_S
    AUTO_RESUME = TRUE
    AUTO_SUSPEND_SECS = 3600
    COMMENT = 'riskscore: EVIDENCE_API_SERVICE and RISK_MODEL_SVC';

DESCRIBE COMPUTE POOL RISKSCORE_POOL;
