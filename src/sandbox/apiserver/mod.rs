//! An in-process server speaking the Kubernetes REST API for the resources an operator needs.

pub mod discovery;
pub mod openapi;
pub mod registry;
pub mod schema;
pub mod table;
