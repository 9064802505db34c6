-- riskscore on SPCS, step 2: where the image and the model files live.
-- After this, push the image (deploy/README.md step 3) to the repository_url that SHOW prints, and
-- copy the model registry to the stage (step 4). Stage volumes need server-side encryption.

USE ROLE RISKSCORE_APP;
USE DATABASE RISKSCORE;
USE SCHEMA ML_MODELS;

CREATE IMAGE REPOSITORY IF NOT EXISTS RISKSCORE.ML_MODELS.RISKSCORE_IMAGES;

CREATE STAGE IF NOT EXISTS RISKSCORE.ML_MODELS.MODEL_REGISTRY_STAGE
    ENCRYPTION = (TYPE = 'SNOWFLAKE_SSE')
    DIRECTORY = (ENABLE = TRUE)
    COMMENT = 'riskscore: file-system model registry read by RISK_MODEL_SVC';

SHOW IMAGE REPOSITORIES IN SCHEMA RISKSCORE.ML_MODELS;
