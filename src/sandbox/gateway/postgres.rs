//! Real PostgreSQL provisioning for the reference gateway (`--postgres-url`): a database plus a
//! login role per managed database.
