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
    AIModel, AIModelSpec, AIModelStatus, AZURE_ONLY_MESSAGE, AZURE_REQUIRED_MESSAGE, AzureUpstream,
    BASE_URL_MESSAGE, BASE_URL_REQUIRED_MESSAGE, BASE_URL_RULE, ModelLimits, ModelParameters,
    PromptTemplate, PromptVariable, Provider, UNSUPPORTED_PROVIDER_MESSAGE, Upstream, spec_rules,
};
pub use common::{
    CONDITION_READY, CONDITION_SYNCED, ConnectionSecretRef, DeletionPolicy,
    EXTERNAL_NAME_ANNOTATION, FINALIZER, GROUP, LastOperation, PAUSED_ANNOTATION, Phase,
    SecretKeySelector, find_condition, set_condition,
};
pub use managed_database::{Engine, ManagedDatabase, ManagedDatabaseSpec, ManagedDatabaseStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, ValidationRule,
};
use kube::CustomResourceExt;

/// Markdown reference of the CRDs (`docs/crd-reference.md`).
pub fn crd_reference() -> String {
    reference::markdown(&crds())
}

/// The CRDs, in the order `crds/` lists them (file names sort the same way).
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        with_gateway_name_rule(with_spec_rules(AIModel::crd(), ai_model::spec_rules())),
        with_gateway_name_rule(ManagedDatabase::crd()),
    ]
}

/// The CEL rule every kind carries at its root: the gateway names its objects after the
/// resource, and takes only DNS labels (Kubernetes names may have dots and 253 characters). A
/// resource the gateway could never hold is refused at admission, rather than accepted, given a
/// finalizer, and left unable to provision or to be deleted.
pub const GATEWAY_NAME_RULE: &str = "self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')";
/// The message of [`GATEWAY_NAME_RULE`].
pub const GATEWAY_NAME_MESSAGE: &str = "metadata.name must be a DNS label (at most 63 lowercase letters, digits and '-', no dots): the gateway names its objects after it";

fn with_gateway_name_rule(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|validation| validation.open_api_v3_schema.as_mut())
        {
            schema
                .x_kubernetes_validations
                .get_or_insert_with(Vec::new)
                .push(ValidationRule {
                    rule: GATEWAY_NAME_RULE.into(),
                    message: Some(GATEWAY_NAME_MESSAGE.into()),
                    ..ValidationRule::default()
                });
        }
    }
    crd
}

/// Adds CEL rules to the `spec` schema of every version.
fn with_spec_rules(
    mut crd: CustomResourceDefinition,
    rules: Vec<ValidationRule>,
) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        if let Some(spec) = version
            .schema
            .as_mut()
            .and_then(|validation| validation.open_api_v3_schema.as_mut())
            .and_then(|schema| schema.properties.as_mut())
            .and_then(|properties| properties.get_mut("spec"))
        {
            spec.x_kubernetes_validations
                .get_or_insert_with(Vec::new)
                .extend(rules.iter().cloned());
        }
    }
    crd
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
