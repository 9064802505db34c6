-- riskscore: privileges for the two roles (created by an administrator, deploy/sql/00_setup.sql).
--   {{ app_role }}: owns and runs the services; writes predictions and features, registers models.
--   {{ reader_role }}: analysts and the dashboard; read only.
-- DELETE on the feature store and UPDATE on the prediction log are for retention purges by policy
-- number (FTC Disposal Rule); the prediction log keeps the decision record, so the app role cannot
-- delete from it.

GRANT USAGE ON DATABASE {{ database }} TO ROLE {{ app_role }};
GRANT USAGE ON WAREHOUSE {{ warehouse }} TO ROLE {{ app_role }};
GRANT USAGE ON SCHEMA {{ database }}.ML_MODELS TO ROLE {{ app_role }};
GRANT USAGE ON SCHEMA {{ database }}.HYBRID_REALTIME TO ROLE {{ app_role }};
GRANT CREATE MODEL ON SCHEMA {{ database }}.ML_MODELS TO ROLE {{ app_role }};
-- Snowpark Container Services objects live in ML_MODELS (deploy/sql/02..04).
GRANT CREATE SERVICE, CREATE IMAGE REPOSITORY, CREATE STAGE, CREATE FUNCTION
    ON SCHEMA {{ database }}.ML_MODELS TO ROLE {{ app_role }};
GRANT SELECT, INSERT, UPDATE ON TABLE {{ database }}.ML_MODELS.MODEL_PREDICTIONS TO ROLE {{ app_role }};
GRANT SELECT, INSERT, DELETE ON TABLE {{ database }}.HYBRID_REALTIME.HT_ONLINE_FEATURES TO ROLE {{ app_role }};

GRANT USAGE ON DATABASE {{ database }} TO ROLE {{ reader_role }};
GRANT USAGE ON WAREHOUSE {{ warehouse }} TO ROLE {{ reader_role }};
GRANT USAGE ON SCHEMA {{ database }}.ML_MODELS TO ROLE {{ reader_role }};
GRANT USAGE ON SCHEMA {{ database }}.HYBRID_REALTIME TO ROLE {{ reader_role }};
GRANT SELECT ON TABLE {{ database }}.ML_MODELS.MODEL_PREDICTIONS TO ROLE {{ reader_role }};
GRANT SELECT ON TABLE {{ database }}.HYBRID_REALTIME.HT_ONLINE_FEATURES TO ROLE {{ reader_role }};
