-- A read-only role for Grafana's PostgreSQL data source: it may read tlsrpt's tables and views,
-- including those later migrations create (default privileges of the owner, tlsrpt). Run by
-- postgres/init.sh in the postgres container on first start (docker-compose.yml), as the superuser, in database
-- tlsrpt; the password comes from the psql variable grafana_password.
CREATE ROLE grafana LOGIN PASSWORD :'grafana_password';
GRANT CONNECT ON DATABASE tlsrpt TO grafana;
GRANT USAGE ON SCHEMA public TO grafana;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO grafana;
ALTER DEFAULT PRIVILEGES FOR ROLE tlsrpt IN SCHEMA public GRANT SELECT ON TABLES TO grafana;
