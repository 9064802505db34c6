-- riskscore: the schemas riskscore owns inside {{ database }}.
-- The database itself is created by an administrator (deploy/sql/00_setup.sql): schemachange never
-- creates it. Object names are contracts (DESIGN.md "Names shared with Snowflake users").

CREATE SCHEMA IF NOT EXISTS {{ database }}.ML_MODELS
    COMMENT = 'riskscore: model registry, prediction log, services and the scoring function';

CREATE SCHEMA IF NOT EXISTS {{ database }}.HYBRID_REALTIME
    COMMENT = 'riskscore: online feature store on hybrid tables';
