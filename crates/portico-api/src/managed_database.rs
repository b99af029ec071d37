//! The `ManagedDatabase` custom resource: a PostgreSQL or MySQL database provisioned by the
//! gateway, asynchronously.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ConnectionSecretRef, DeletionPolicy, LastOperation, Phase, conditions_schema};

/// Desired state of a managed database.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "portico.dev",
    version = "v1alpha1",
    kind = "ManagedDatabase",
    plural = "manageddatabases",
    singular = "manageddatabase",
    namespaced,
    status = "ManagedDatabaseStatus",
    shortname = "mdb",
    category = "portico",
    doc = "A managed database provisioned through the Portico gateway. Portico writes host, port, \
           database, username, password and a connection URI into the connection Secret.",
    printcolumn = r#"{"name":"Engine","type":"string","jsonPath":".spec.engine","description":"Database engine."}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".spec.version","description":"Engine version."}"#,
    printcolumn = r#"{"name":"Storage","type":"integer","jsonPath":".spec.storageGB","description":"Storage in GB."}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase","description":"Lifecycle phase."}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"Whether the database is usable."}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ManagedDatabaseSpec {
    /// Database engine. Immutable: changing it would mean a new database.
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "engine is immutable"}]))]
    pub engine: Engine,
    /// Engine version, e.g. `16` or `8.0`.
    #[schemars(length(min = 1, max = 16), regex(pattern = r"^[0-9]+(\.[0-9]+)*$"))]
    pub version: String,
    /// Name of the database to create: a DNS label of 3 to 63 characters.
    #[schemars(
        length(min = 3, max = 63),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub database_name: String,
    /// Storage to allocate, in GB (1 to 1000).
    #[serde(rename = "storageGB")]
    #[schemars(extend("minimum" = 1, "maximum" = 1000))]
    pub storage_gb: i64,
    /// Read replicas (0 to 5).
    #[serde(default)]
    #[schemars(extend("minimum" = 0, "maximum" = 5, "default" = 0))]
    pub replicas: i64,
    /// Secret to write the connection details to (keys `host`, `port`, `database`, `username`,
    /// `password`, `uri`). Defaults to `<name>-conn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_connection_secret_to_ref: Option<ConnectionSecretRef>,
    /// What happens to the gateway database when this resource is deleted.
    #[serde(default)]
    #[schemars(extend("default" = "Delete"))]
    pub deletion_policy: DeletionPolicy,
}

/// Database engine.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Engine {
    /// PostgreSQL.
    PostgreSQL,
    /// MySQL.
    MySQL,
}

impl Engine {
    /// The engine's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::PostgreSQL => "PostgreSQL",
            Engine::MySQL => "MySQL",
        }
    }
}

/// Observed state of a managed database. Never holds a password.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedDatabaseStatus {
    /// Lifecycle phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Name of the database at the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_name: Option<String>,
    /// Host clients connect to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Port clients connect to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// Database name on the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Login role clients use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The most recent gateway call, with its trace id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_operation: Option<LastOperation>,
    /// `Ready` and `Synced` conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}
