-- riskscore on Snowpark Container Services, step 0 (an administrator, once per account).
-- Creates what schemachange and the services expect to exist: the database, a warehouse, the two
-- roles the migrations grant to, and the account-level privileges SPCS needs. Object names are the
-- defaults of `riskscore migrate` (--var database=..., warehouse=..., app_role=..., reader_role=...).

USE ROLE ACCOUNTADMIN;

CREATE DATABASE IF NOT EXISTS RISKSCORE;
CREATE DATABASE IF NOT EXISTS METADATA;  -- schemachange's change history (METADATA.SCHEMACHANGE)
CREATE WAREHOUSE IF NOT EXISTS RISKSCORE_WH
    WAREHOUSE_SIZE = XSMALL
    AUTO_SUSPEND = 60
    AUTO_RESUME = TRUE
    INITIALLY_SUSPENDED = TRUE;

CREATE ROLE IF NOT EXISTS RISKSCORE_APP;     -- owns and runs the services, writes the stores
CREATE ROLE IF NOT EXISTS RISKSCORE_READER;  -- analysts and dashboards, read only
GRANT ROLE RISKSCORE_APP TO ROLE SYSADMIN;
GRANT ROLE RISKSCORE_READER TO ROLE RISKSCORE_APP;

-- The role that runs migrations (here SYSADMIN) owns the database objects.
GRANT OWNERSHIP ON DATABASE RISKSCORE TO ROLE SYSADMIN COPY CURRENT GRANTS;
GRANT OWNERSHIP ON DATABASE METADATA TO ROLE SYSADMIN COPY CURRENT GRANTS;
GRANT USAGE ON WAREHOUSE RISKSCORE_WH TO ROLE SYSADMIN;

-- Snowpark Container Services: the app role creates the compute pool, image repository and services.
GRANT CREATE COMPUTE POOL ON ACCOUNT TO ROLE RISKSCORE_APP;
GRANT BIND SERVICE ENDPOINT ON ACCOUNT TO ROLE RISKSCORE_APP;
