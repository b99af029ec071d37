//! Real PostgreSQL provisioning against a throw-away server.
