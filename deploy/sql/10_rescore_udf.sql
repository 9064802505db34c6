-- riskscore in-warehouse rescoring (optional): the vectorized Python UDF RESCORE.
-- RESCORE(MIB_XML, RX_XML[, AS_OF]) RETURNS VARIANT scores rows inside a warehouse with the same parser,
-- features and compiled model as the API and `riskscore rescore`, no service needed. Each value is
-- {risk_score, risk_class, model_name, model_version, feature_schema_version, reason_codes, error};
-- a bad row gets error {type, title, detail} and null scores, and the query goes on.
-- Steps and how to build the files it uploads: deploy/rescore-udf.md. Run from the repository root:
--   snow sql -f deploy/sql/10_rescore_udf.sql

USE ROLE RISKSCORE_APP;
USE DATABASE RISKSCORE;
USE SCHEMA ML_MODELS;
USE WAREHOUSE RISKSCORE_WH;

-- Pre-flight: the handler's packages in Snowflake's Anaconda channel (numpy must offer a 2.x version).
SELECT package_name, MAX(version) AS newest
FROM INFORMATION_SCHEMA.PACKAGES
WHERE language = 'python' AND package_name IN ('numpy', 'pandas', 'lxml', 'msgspec')
GROUP BY package_name
ORDER BY package_name;

CREATE STAGE IF NOT EXISTS RISKSCORE.ML_MODELS.RESCORE_UDF_STAGE
    DIRECTORY = (ENABLE = TRUE)
    COMMENT = 'riskscore wheel and compiled model imported by the RESCORE UDF';

-- The package (pure Python wheel: importable as a zip) and the model version to serve, exported from
-- the registry into build/rescore-udf/ (deploy/rescore-udf.md step 2). No compression: the UDF imports
-- the files as they are.
PUT 'file://dist/riskscore-0.1.0-py3-none-any.whl' @RISKSCORE.ML_MODELS.RESCORE_UDF_STAGE
    AUTO_COMPRESS = FALSE OVERWRITE = TRUE;
PUT 'file://build/rescore-udf/model.npz' @RISKSCORE.ML_MODELS.RESCORE_UDF_STAGE
    AUTO_COMPRESS = FALSE OVERWRITE = TRUE;
PUT 'file://build/rescore-udf/metadata.json' @RISKSCORE.ML_MODELS.RESCORE_UDF_STAGE
    AUTO_COMPRESS = FALSE OVERWRITE = TRUE;

-- AS_OF is optional: without it (or NULL) features are computed as of the warehouse's current date;
-- with it, as of that date (re-scoring an application as of the day it was first scored).
CREATE OR REPLACE FUNCTION RISKSCORE.ML_MODELS.RESCORE(
    MIB_XML VARCHAR, RX_XML VARCHAR, AS_OF DATE DEFAULT NULL
)
    RETURNS VARIANT
    LANGUAGE PYTHON
    RUNTIME_VERSION = '3.11'
    PACKAGES = ('numpy', 'pandas', 'lxml', 'msgspec')
    IMPORTS = (
        '@RISKSCORE.ML_MODELS.RESCORE_UDF_STAGE/riskscore-0.1.0-py3-none-any.whl',
        '@RISKSCORE.ML_MODELS.RESCORE_UDF_STAGE/model.npz',
        '@RISKSCORE.ML_MODELS.RESCORE_UDF_STAGE/metadata.json'
    )
    HANDLER = 'rescore'
    COMMENT = 'riskscore batch rescoring in the warehouse (vectorized)'
AS $$
import os
import sys

import pandas
from _snowflake import vectorized

# The wheel is a zip archive: Python imports the pure-Python package straight from it.
sys.path.insert(
    0, os.path.join(sys._xoptions["snowflake_import_directory"], "riskscore-0.1.0-py3-none-any.whl")
)

from riskscore.adapters.snowflake.udf_rescore import rescore_frame


@vectorized(input=pandas.DataFrame, max_batch_size=1000)
def rescore(df):
    return rescore_frame(df)
$$;

GRANT USAGE ON FUNCTION RISKSCORE.ML_MODELS.RESCORE(VARCHAR, VARCHAR, DATE) TO ROLE RISKSCORE_READER;

-- Example: the reference samples of the public Snowflake demo, and an empty report.
SELECT
    r.value:risk_score::FLOAT      AS risk_score,
    r.value:risk_class::STRING     AS risk_class,
    r.value:model_version::STRING  AS model_version,
    r.value:error                  AS error
FROM (
    SELECT RISKSCORE.ML_MODELS.RESCORE(
        '<?xml version="1.0"?><Response><ResponseData>CODE1</ResponseData></Response>',
        '<?xml version="1.0"?><IntelRXResponse><DrugFill><DrugGenericName>METFORMIN</DrugGenericName></DrugFill></IntelRXResponse>'
    ) AS value
    UNION ALL
    SELECT RISKSCORE.ML_MODELS.RESCORE('<r/>', '<r/>', '2026-01-01'::DATE)
) AS r;
