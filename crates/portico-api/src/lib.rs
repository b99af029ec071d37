//! Custom resource types `AIModel` and `ManagedDatabase` (`portico.dev/v1alpha1`) and the YAML
//! of their CustomResourceDefinitions, which `crds/` holds.
//!
//! Contract: types only, no I/O (kube with the `derive` feature alone); imports no crate of ours.
#![forbid(unsafe_code)]

mod ai_model;
mod common;
mod managed_database;
mod reference;

pub use ai_model::{
    AIModel, AIModelSpec, AIModelStatus, ModelLimits, ModelParameters, PromptTemplate,
    PromptVariable, Provider,
};
pub use common::{
    CONDITION_READY, CONDITION_SYNCED, ConnectionSecretRef, DeletionPolicy,
    EXTERNAL_NAME_ANNOTATION, FINALIZER, GROUP, LastOperation, PAUSED_ANNOTATION, Phase,
    SecretKeySelector, find_condition, set_condition,
};
pub use managed_database::{Engine, ManagedDatabase, ManagedDatabaseSpec, ManagedDatabaseStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Markdown reference of the CRDs (`docs/crd-reference.md`).
pub fn crd_reference() -> String {
    reference::markdown(&crds())
}

/// The CRDs, in the order `crds/` lists them (file names sort the same way).
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![AIModel::crd(), ManagedDatabase::crd()]
}

/// File name under `crds/` for a CRD: `<plural>.<group>.yaml`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

/// Why a CRD could not be rendered as YAML.
#[derive(Debug, thiserror::Error)]
pub enum CrdRenderError {
    /// The CRD did not convert to JSON.
    #[error("failed to convert the CRD to JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON did not render as YAML.
    #[error("failed to render the CRD as YAML: {0}")]
    Yaml(#[from] serde_saphyr::ser::Error),
}

/// One CRD as a YAML document (starting with `---`).
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, CrdRenderError> {
    let mut value = serde_json::to_value(crd)?;
    integral_floats_as_integers(&mut value);
    Ok(format!("---\n{}", serde_saphyr::to_string(&value)?))
}

/// `JSONSchemaProps` holds `minimum`/`maximum` as floats, so `1` would render as `1.0`. JSON
/// draws no line between the two, and kube-apiserver prints such bounds without a fraction;
/// so do we, for a CRD that reads the way it was written.
fn integral_floats_as_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(number) => {
            if let Some(float) = number.as_f64().filter(|_| number.is_f64())
                && float.fract() == 0.0
                && float.abs() < 9.0e15
            {
                *value = serde_json::Value::from(float as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        serde_json::Value::Object(map) => map.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

/// Every CRD as a multi-document YAML stream: what `portico crd` prints and what the files under
/// `crds/` concatenate to.
pub fn crds_yaml() -> Result<String, CrdRenderError> {
    crds().iter().map(crd_yaml).collect()
}
