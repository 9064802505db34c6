-- riskscore on SPCS, step 5: the two services, in the schema of the image repository so that the
-- API reaches the model service by its bare DNS name (risk-model-svc).
-- The specifications are inlined from deploy/spcs/*.yaml (a test keeps them identical); edit the image
-- path in both places if your repository differs. Instance counts are set here, not in the YAML.
-- QUERY_WAREHOUSE runs the API's SQL (feature store and prediction log writes).

USE ROLE RISKSCORE_APP;
USE DATABASE RISKSCORE;
USE SCHEMA ML_MODELS;

CREATE SERVICE IF NOT EXISTS RISKSCORE.ML_MODELS.RISK_MODEL_SVC
    IN COMPUTE POOL RISKSCORE_POOL
    FROM SPECIFICATION $$
spec:
  containers:
    - name: risk-model
      image: /riskscore/ml_models/riskscore_images/riskscore:0.1.0
      command: [riskscore, model-server, --host, 0.0.0.0, --port, "5000"]
      env:
        RISKSCORE_DATA_DIR: /var/lib/riskscore
        RISKSCORE_LOG_FORMAT: json
      readinessProbe:
        port: 5000
        path: /health
      volumeMounts:
        - name: model-registry
          mountPath: /var/lib/riskscore/registry
      resources:
        requests:
          cpu: 1
          memory: 2G
        limits:
          cpu: 2
          memory: 4G
  endpoints:
    - name: inference
      port: 5000
      protocol: HTTP
      public: false
  volumes:
    - name: model-registry
      source: stage
      stageConfig:
        name: "@RISKSCORE.ML_MODELS.MODEL_REGISTRY_STAGE"
$$
    MIN_INSTANCES = 1
    MAX_INSTANCES = 2
    COMMENT = 'riskscore model service (endpoint inference, port 5000)';

CREATE SERVICE IF NOT EXISTS RISKSCORE.ML_MODELS.EVIDENCE_API_SERVICE
    IN COMPUTE POOL RISKSCORE_POOL
    FROM SPECIFICATION $$
spec:
  containers:
    - name: evidence-api
      image: /riskscore/ml_models/riskscore_images/riskscore:0.1.0
      command: [riskscore, serve, --host, 0.0.0.0, --port, "8000"]
      env:
        RISKSCORE_BACKEND: snowflake
        RISKSCORE_MODEL_CLIENT: http
        # RISK_MODEL_SVC in the same schema: SPCS resolves the bare service name, "_" -> "-".
        RISKSCORE_MODEL_URL: http://risk-model-svc:5000
        RISKSCORE_SNOWFLAKE_DATABASE: RISKSCORE
        RISKSCORE_SNOWFLAKE_WAREHOUSE: RISKSCORE_WH
        RISKSCORE_DATA_DIR: /var/lib/riskscore
        RISKSCORE_LOG_FORMAT: json
        # One API worker per core of the CPU limit below (each owns a journal slot under the data
        # directory; docs/audit-trail.md). Change both together.
        RISKSCORE_WORKERS: "2"
      readinessProbe:
        port: 8000
        path: /health
      resources:
        requests:
          cpu: 1
          memory: 2G
        limits:
          cpu: 2
          memory: 4G
  endpoints:
    - name: api
      port: 8000
      protocol: HTTP
      public: false
$$
    MIN_INSTANCES = 1
    MAX_INSTANCES = 3
    QUERY_WAREHOUSE = RISKSCORE_WH
    COMMENT = 'riskscore scoring API (endpoint api, port 8000) behind FN_API_PREDICT';

-- Wait until both report READY.
SELECT SYSTEM$GET_SERVICE_STATUS('RISKSCORE.ML_MODELS.RISK_MODEL_SVC');
SELECT SYSTEM$GET_SERVICE_STATUS('RISKSCORE.ML_MODELS.EVIDENCE_API_SERVICE');
SHOW ENDPOINTS IN SERVICE RISKSCORE.ML_MODELS.EVIDENCE_API_SERVICE;
