//! A throw-away PostgreSQL server (initdb + pg_ctl in a temporary directory) for tests.
