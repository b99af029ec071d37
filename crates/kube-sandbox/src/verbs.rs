//! The write verbs (create, update, patch, delete) as kube-apiserver's registry runs them:
//! decoding checks, defaulting, pruning and validation for custom resources, metadata rules,
//! status/spec separation, generation, field ownership and finalizers. Shared by the HTTP layer
//! and the background controllers.

use std::sync::Arc;

use base64::Engine;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::managed;
use super::object::{
    core_event_to_events_v1, events_v1_to_core_event, finalizers, generate_name, is_deleting,
    meta_str, metadata_mut, name_errors, now_rfc3339,
};
use super::schema::StructuralSchema;
use super::store::{Committed, Mutation, Served, Store, StoredObject};

/// Which part of an object a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    /// The object itself.
    Main,
    /// `/status`.
    Status,
    /// `/scale`.
    Scale,
}

impl Subresource {
    fn managed_name(self) -> &'static str {
        match self {
            Subresource::Main => "",
            Subresource::Status => "status",
            Subresource::Scale => "scale",
        }
    }
}

/// The `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Unknown fields fail the request.
    Strict,
    /// Unknown fields are dropped with a warning (kube-apiserver's default).
    #[default]
    Warn,
    /// Unknown fields are dropped silently.
    Ignore,
}

/// Options every write shares.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: run everything, store nothing.
    pub dry_run: bool,
    /// `fieldManager` (or one derived from the user agent).
    pub field_manager: String,
    /// `fieldValidation`.
    pub field_validation: FieldValidation,
    /// `force` (server-side apply).
    pub force: bool,
}

/// A write's outcome and the warnings to send with it.
#[derive(Debug, Clone)]
pub struct Written {
    /// What was stored.
    pub committed: Committed,
    /// `Warning` headers.
    pub warnings: Vec<String>,
}

/// `propagationPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// Dependents are collected after the owner is gone.
    #[default]
    Background,
    /// The owner waits for its dependents.
    Foreground,
    /// Dependents lose their owner reference and stay.
    Orphan,
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `propagationPolicy`.
    pub propagation: Propagation,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
}

/// Finalizer kube's CRD controller holds until the custom resources are gone.
pub const CRD_CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";
/// Garbage-collector finalizers.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// Foreground deletion finalizer.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// An object as a served version shows it (Event conversion, CRD version in `apiVersion`).
pub fn present_value(served: &Served, value: &Value) -> Value {
    if served.events_v1 {
        return core_event_to_events_v1(value);
    }
    let api_version = served.rt.api_version();
    if value.get("apiVersion").and_then(Value::as_str) == Some(api_version.as_str()) {
        return value.clone();
    }
    let mut out = value.clone();
    out["apiVersion"] = json!(api_version);
    out
}

/// The JSON of an object as a served version shows it; the shared bytes when no conversion is
/// needed.
pub fn present_bytes(served: &Served, object: &StoredObject) -> bytes::Bytes {
    let api_version = served.rt.api_version();
    if !served.events_v1
        && object.value.get("apiVersion").and_then(Value::as_str) == Some(api_version.as_str())
    {
        return object.json().clone();
    }
    bytes::Bytes::from(
        serde_json::to_vec(&present_value(served, &object.value)).unwrap_or_default(),
    )
}

fn invalid_one(served: &Served, name: &str, reason: &str, field: &str, body: String) -> ApiError {
    ApiError::invalid(
        &served.rt,
        name,
        &[(reason.to_string(), field.to_string(), body)],
    )
}

/// Checks `apiVersion`/`kind` of a request body and brings it into stored form.
fn decode(served: &Served, body: Value) -> Result<Value, ApiError> {
    let Value::Object(_) = body else {
        return Err(ApiError::bad_request(
            "the body of the request is not a JSON object",
        ));
    };
    let mut body = body;
    let api_version = served.rt.api_version();
    match body.get("apiVersion").and_then(Value::as_str) {
        Some(given) if given != api_version => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({given}) does not match the expected API version ({api_version})"
            )));
        }
        _ => body["apiVersion"] = json!(api_version),
    }
    match body.get("kind").and_then(Value::as_str) {
        Some(given) if given != served.rt.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({given}) does not match the expected kind ({})",
                served.rt.kind
            )));
        }
        _ => body["kind"] = json!(served.rt.kind),
    }
    if served.events_v1 {
        body = events_v1_to_core_event(&body);
    }
    Ok(body)
}

fn equal_outside(a: &Value, b: &Value, skip: &[&str]) -> bool {
    let empty = Map::new();
    let a = a.as_object().unwrap_or(&empty);
    let b = b.as_object().unwrap_or(&empty);
    let keys_a = a.keys().filter(|k| !skip.contains(&k.as_str()));
    let count_b = b.keys().filter(|k| !skip.contains(&k.as_str())).count();
    let mut count_a = 0;
    for key in keys_a {
        count_a += 1;
        if a.get(key) != b.get(key) {
            return false;
        }
    }
    count_a == count_b
}

fn all_finalizers(value: &Value, is_namespace: bool) -> Vec<String> {
    let mut all = finalizers(value);
    if is_namespace && let Some(spec) = value.pointer("/spec/finalizers").and_then(Value::as_array)
    {
        all.extend(spec.iter().filter_map(Value::as_str).map(str::to_string));
    }
    all
}

fn go_slice(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|f| format!("{f:?}")).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// How the new object's field ownership is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ownership {
    Update,
    AlreadyApplied,
}

/// Turns a requested new state into the mutation to store, kube's strategy and validation.
#[allow(clippy::too_many_arguments)]
fn finish(
    served: &Served,
    namespace: &str,
    name: &str,
    old: Option<&Arc<StoredObject>>,
    mut new: Value,
    options: &WriteOptions,
    subresource: Subresource,
    ownership: Ownership,
) -> Result<(Mutation, Vec<String>), ApiError> {
    let rt = &served.rt;
    let is_namespace = served.storage_key.as_ref() == super::store::NAMESPACES;
    let is_crd = served.storage_key.as_ref() == super::store::CRDS;
    let mut warnings = Vec::new();
    let old_value = old.map(|o| &o.value);

    if let Some(old_value) = old_value {
        if rt.status_subresource {
            match subresource {
                Subresource::Status => {
                    let status = new.get("status").cloned();
                    let managed_fields = new.pointer("/metadata/managedFields").cloned();
                    new = old_value.clone();
                    match status {
                        Some(status) => new["status"] = status,
                        None => {
                            if let Value::Object(map) = &mut new {
                                map.remove("status");
                            }
                        }
                    }
                    if let Some(managed_fields) = managed_fields {
                        metadata_mut(&mut new).insert("managedFields".into(), managed_fields);
                    }
                }
                Subresource::Main | Subresource::Scale => match old_value.get("status") {
                    Some(status) => new["status"] = status.clone(),
                    None => {
                        if let Value::Object(map) = &mut new {
                            map.remove("status");
                        }
                    }
                },
            }
        }
    } else if rt.status_subresource
        && served.is_custom()
        && let Value::Object(map) = &mut new
    {
        map.remove("status");
    }

    {
        let metadata = metadata_mut(&mut new);
        metadata.insert("name".into(), json!(name));
        if rt.namespaced {
            metadata.insert("namespace".into(), json!(namespace));
        } else {
            metadata.remove("namespace");
        }
        metadata.remove("selfLink");
        match old_value {
            None => {
                metadata.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
                metadata.insert("creationTimestamp".into(), json!(now_rfc3339()));
                metadata.remove("deletionTimestamp");
                metadata.remove("deletionGracePeriodSeconds");
                metadata.remove("resourceVersion");
                if served.is_custom() || is_crd {
                    metadata.insert("generation".into(), json!(1));
                } else {
                    metadata.remove("generation");
                }
            }
            Some(old_value) => {
                for field in [
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "generation",
                    "resourceVersion",
                ] {
                    match old_value.pointer(&format!("/metadata/{field}")) {
                        Some(value) => metadata.insert(field.into(), value.clone()),
                        None => metadata.remove(field),
                    };
                }
            }
        }
    }

    if old_value.is_none() {
        let label_only = is_namespace;
        let errors = name_errors(name, label_only);
        if !errors.is_empty() {
            let causes: Vec<(String, String, String)> = errors
                .into_iter()
                .map(|e| {
                    (
                        "FieldValueInvalid".to_string(),
                        "metadata.name".to_string(),
                        format!("Invalid value: {name:?}: {e}"),
                    )
                })
                .collect();
            return Err(ApiError::invalid(rt, name, &causes));
        }
    }

    let bad_labels = super::object::label_errors(&new);
    if !bad_labels.is_empty() {
        let causes: Vec<(String, String, String)> = bad_labels
            .into_iter()
            .map(|(field, body)| ("FieldValueInvalid".to_string(), field, body))
            .collect();
        return Err(ApiError::invalid(rt, name, &causes));
    }

    if let Some(old_value) = old_value
        && is_deleting(old_value)
    {
        let before = finalizers(old_value);
        let added: Vec<String> = finalizers(&new)
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        if !added.is_empty() {
            return Err(invalid_one(
                served,
                name,
                "FieldValueForbidden",
                "metadata.finalizers",
                format!(
                    "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {}",
                    go_slice(&added)
                ),
            ));
        }
    }

    match served.storage_key.as_ref() {
        "/secrets" => secret_string_data(&mut new),
        super::store::NAMESPACES if old_value.is_none() => {
            if new.pointer("/spec/finalizers").is_none() {
                new["spec"] = json!({"finalizers": ["kubernetes"]});
            }
            new["status"] = json!({"phase": "Active"});
        }
        super::store::CRDS => crd_strategy(served, name, old_value, &mut new)?,
        _ => {}
    }

    if let Some(schema) = &served.schema {
        warnings.extend(schema_checks(
            served, schema, name, old_value, &mut new, options,
        )?);
    }

    if let Some(old_value) = old_value {
        let bumped = if served.is_custom() {
            !equal_outside(old_value, &new, &["metadata", "status"])
        } else if is_crd {
            old_value.get("spec") != new.get("spec")
        } else {
            false
        };
        if bumped {
            let generation = old_value
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            metadata_mut(&mut new).insert("generation".into(), json!(generation + 1));
        }
    }

    if ownership == Ownership::Update {
        managed::record_update(
            old_value,
            &mut new,
            &options.field_manager,
            &rt.api_version(),
            subresource.managed_name(),
        );
    }

    if is_deleting(&new) && all_finalizers(&new, is_namespace).is_empty() {
        return Ok((Mutation::Remove(new), warnings));
    }
    if let Some(old) = old
        && old.value == new
    {
        return Ok((Mutation::Unchanged(old.clone()), warnings));
    }
    Ok((Mutation::Put(new), warnings))
}

fn secret_string_data(new: &mut Value) {
    // kube-apiserver defaults the type whether or not `stringData` came.
    if new.get("type").is_none_or(|t| t.as_str() == Some("")) && new.is_object() {
        new["type"] = json!("Opaque");
    }
    let Some(Value::Object(string_data)) = new
        .as_object_mut()
        .and_then(|object| object.remove("stringData"))
    else {
        return;
    };
    let data = new
        .as_object_mut()
        .map(|object| object.entry("data").or_insert_with(|| json!({})));
    if let Some(data) = data {
        if !data.is_object() {
            *data = json!({});
        }
        for (key, value) in string_data {
            let text = value
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            data[key.as_str()] =
                json!(base64::engine::general_purpose::STANDARD.encode(text.as_bytes()));
        }
    }
}

fn schema_checks(
    served: &Served,
    schema: &StructuralSchema,
    name: &str,
    old_value: Option<&Value>,
    new: &mut Value,
    options: &WriteOptions,
) -> Result<Vec<String>, ApiError> {
    let mut warnings = Vec::new();
    schema.apply_defaults(new);
    let pruned = schema.prune(new);
    if !pruned.is_empty() {
        match options.field_validation {
            FieldValidation::Strict => {
                let listed: Vec<String> = pruned
                    .iter()
                    .map(|path| format!("unknown field \"{path}\""))
                    .collect();
                return Err(ApiError::bad_request(format!(
                    "strict decoding error: {}",
                    listed.join(", ")
                )));
            }
            FieldValidation::Warn => warnings.extend(
                pruned
                    .iter()
                    .map(|path| format!("unknown field \"{path}\"")),
            ),
            FieldValidation::Ignore => {}
        }
    }
    let errors = schema.validate(new, old_value);
    if !errors.is_empty() {
        let causes: Vec<(String, String, String)> = errors
            .iter()
            .map(|e| (e.reason().to_string(), e.field.clone(), e.body()))
            .collect();
        return Err(ApiError::invalid(&served.rt, name, &causes));
    }
    Ok(warnings)
}

fn crd_strategy(
    served: &Served,
    name: &str,
    old_value: Option<&Value>,
    new: &mut Value,
) -> Result<(), ApiError> {
    let mut errors: Vec<(String, String, String)> = Vec::new();
    let text = |pointer: &str| {
        new.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let group = text("/spec/group");
    let plural = text("/spec/names/plural");
    let kind = text("/spec/names/kind");
    for (field, value) in [
        ("spec.group", &group),
        ("spec.names.plural", &plural),
        ("spec.names.kind", &kind),
    ] {
        if value.is_empty() {
            errors.push((
                "FieldValueRequired".into(),
                field.into(),
                "Required value".into(),
            ));
        }
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        errors.push((
            "FieldValueInvalid".into(),
            "metadata.name".into(),
            format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let versions = new
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        errors.push((
            "FieldValueRequired".into(),
            "spec.versions".into(),
            "Required value: must have exactly one version marked as storage version".into(),
        ));
    } else if versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count()
        != 1
    {
        errors.push((
            "FieldValueInvalid".into(),
            "spec.versions".into(),
            format!(
                "Invalid value: {}: must have exactly one version marked as storage version",
                json!(
                    versions
                        .iter()
                        .map(|v| v.get("name").cloned().unwrap_or(Value::Null))
                        .collect::<Vec<_>>()
                )
            ),
        ));
    }
    for (index, version) in versions.iter().enumerate() {
        if let Some(schema) = version.pointer("/schema/openAPIV3Schema")
            && let Err(schema_errors) = StructuralSchema::new_at(
                schema.clone(),
                &format!("spec.versions[{index}].schema.openAPIV3Schema"),
            )
        {
            for error in schema_errors {
                errors.push((
                    error.reason().to_string(),
                    error.field.clone(),
                    error.body(),
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(&served.rt, name, &errors));
    }
    if old_value.is_none() {
        let metadata = metadata_mut(new);
        let mut list: Vec<Value> = metadata
            .get("finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !list.iter().any(|f| f == CRD_CLEANUP_FINALIZER) {
            list.push(json!(CRD_CLEANUP_FINALIZER));
        }
        metadata.insert("finalizers".into(), Value::Array(list));
    }
    let mut accepted = new
        .pointer("/spec/names")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if accepted.get("listKind").is_none() {
        accepted["listKind"] = json!(format!("{kind}List"));
    }
    if accepted.get("singular").is_none() {
        accepted["singular"] = json!(kind.to_lowercase());
    }
    let storage: Vec<Value> = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").cloned())
        .collect();
    let previous_conditions = old_value
        .and_then(|o| o.pointer("/status/conditions"))
        .cloned();
    let transition = |kind: &str| {
        previous_conditions
            .as_ref()
            .and_then(Value::as_array)
            .and_then(|c| {
                c.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
            })
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| json!(now_rfc3339()))
    };
    let mut conditions = vec![
        json!({"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": transition("NamesAccepted")}),
        json!({"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": transition("Established")}),
    ];
    if is_deleting(new) {
        conditions.push(json!({"type": "Terminating", "status": "True", "reason": "InstanceDeletionPending", "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon", "lastTransitionTime": transition("Terminating")}));
    }
    let _ = served;
    new["status"] =
        json!({"conditions": conditions, "acceptedNames": accepted, "storedVersions": storage});
    Ok(())
}

/// `POST`: creates an object.
pub fn create(
    store: &Store,
    served: &Served,
    namespace: &str,
    body: Value,
    options: &WriteOptions,
) -> Result<Written, ApiError> {
    let body = decode(served, body)?;
    let body_namespace = meta_str(&body, "namespace");
    if served.rt.namespaced && !body_namespace.is_empty() && body_namespace != namespace {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let name = match meta_str(&body, "name") {
        "" => match meta_str(&body, "generateName") {
            "" => {
                return Err(invalid_one(
                    served,
                    "",
                    "FieldValueRequired",
                    "metadata.name",
                    "Required value: name or generateName is required".into(),
                ));
            }
            prefix => generate_name(prefix),
        },
        name => name.to_string(),
    };
    let mut warnings = Vec::new();
    let committed = store.mutate(served, namespace, &name, options.dry_run, |current| {
        if current.is_some() {
            return Err(ApiError::already_exists(&served.rt, &name));
        }
        let (mutation, found) = finish(
            served,
            namespace,
            &name,
            None,
            body.clone(),
            options,
            Subresource::Main,
            Ownership::Update,
        )?;
        warnings = found;
        Ok(mutation)
    })?;
    Ok(Written {
        committed,
        warnings,
    })
}

fn check_preconditions(
    served: &Served,
    name: &str,
    current: &StoredObject,
    requested: &Value,
) -> Result<(), ApiError> {
    let requested_rv = meta_str(requested, "resourceVersion");
    if !requested_rv.is_empty() && requested_rv != meta_str(&current.value, "resourceVersion") {
        return Err(ApiError::conflict(&served.rt, name));
    }
    let requested_uid = meta_str(requested, "uid");
    let current_uid = meta_str(&current.value, "uid");
    if !requested_uid.is_empty() && requested_uid != current_uid {
        return Err(ApiError::conflict_with(
            &served.rt,
            name,
            &format!(
                "Precondition failed: UID in precondition: {requested_uid}, UID in object meta: {current_uid}"
            ),
        ));
    }
    Ok(())
}

fn scale_of(served: &Served, value: &Value) -> Value {
    let paths = served.rt.scale_subresource.as_ref();
    let pointer = |path: Option<&String>| path.map(|p| p.trim_start_matches('.').replace('.', "/"));
    let at = |path: Option<String>| path.and_then(|p| value.pointer(&format!("/{p}")).cloned());
    let spec = at(pointer(paths.map(|p| &p.spec_replicas_path))).unwrap_or(json!(0));
    let status = at(pointer(paths.map(|p| &p.status_replicas_path))).unwrap_or(json!(0));
    let selector = at(pointer(paths.and_then(|p| p.label_selector_path.as_ref())));
    let mut metadata = json!({});
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = value.pointer(&format!("/metadata/{field}")) {
            metadata[field] = v.clone();
        }
    }
    let mut scale = json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": metadata,
        "spec": {"replicas": spec}, "status": {"replicas": status}});
    if let Some(selector) = selector {
        scale["status"]["selector"] = selector;
    }
    scale
}

/// The `Scale` view of a custom resource.
pub fn scale_view(served: &Served, object: &StoredObject) -> Value {
    scale_of(served, &object.value)
}

fn apply_scale(served: &Served, current: &Value, scale: &Value) -> Result<Value, ApiError> {
    let Some(paths) = &served.rt.scale_subresource else {
        return Err(ApiError::path_not_found());
    };
    let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
    let mut new = current.clone();
    let keys: Vec<&str> = paths
        .spec_replicas_path
        .trim_start_matches('.')
        .split('.')
        .collect();
    let mut node = &mut new;
    for (index, key) in keys.iter().enumerate() {
        if !node.is_object() {
            *node = json!({});
        }
        if index + 1 == keys.len() {
            node[*key] = replicas.clone();
            break;
        }
        if node.get(*key).is_none() {
            node[*key] = json!({});
        }
        match node.get_mut(*key) {
            Some(next) => node = next,
            None => break,
        }
    }
    Ok(new)
}

/// `PUT`: replaces an object (or its status or scale).
pub fn update(
    store: &Store,
    served: &Served,
    namespace: &str,
    name: &str,
    body: Value,
    subresource: Subresource,
    options: &WriteOptions,
) -> Result<Written, ApiError> {
    let body = if subresource == Subresource::Scale {
        body
    } else {
        decode(served, body)?
    };
    let body_name = meta_str(&body, "name");
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let mut warnings = Vec::new();
    let committed = store.mutate(served, namespace, name, options.dry_run, |current| {
        let Some(current) = current else {
            return Err(ApiError::not_found(&served.rt, name));
        };
        check_preconditions(served, name, current, &body)?;
        let new = if subresource == Subresource::Scale {
            apply_scale(served, &current.value, &body)?
        } else {
            body.clone()
        };
        let (mutation, found) = finish(
            served,
            namespace,
            name,
            Some(current),
            new,
            options,
            subresource,
            Ownership::Update,
        )?;
        warnings = found;
        Ok(mutation)
    })?;
    Ok(Written {
        committed,
        warnings,
    })
}

/// Patch formats.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchBody {
    /// `application/merge-patch+json`.
    Merge(Value),
    /// `application/strategic-merge-patch+json` (built-in kinds only).
    Strategic(Value),
    /// `application/json-patch+json`.
    Json(json_patch::Patch),
    /// `application/apply-patch+yaml`.
    Apply(Value),
}

/// `PATCH`: patches an object (or its status or scale); server-side apply creates it if absent.
pub fn patch(
    store: &Store,
    served: &Served,
    namespace: &str,
    name: &str,
    body: &PatchBody,
    subresource: Subresource,
    options: &WriteOptions,
) -> Result<Written, ApiError> {
    if let PatchBody::Apply(applied) = body {
        if options.field_manager.is_empty() {
            return Err(ApiError::bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        }
        let applied_name = meta_str(applied, "name");
        if !applied_name.is_empty() && applied_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({applied_name}) does not match the name on the URL ({name})"
            )));
        }
    }
    let mut warnings = Vec::new();
    let committed = store.mutate(served, namespace, name, options.dry_run, |current| {
        let base = match (current, body, subresource) {
            (Some(current), _, Subresource::Scale) => scale_of(served, &current.value),
            (Some(current), _, _) => present_value(served, &current.value),
            (None, PatchBody::Apply(_), Subresource::Main) => Value::Null,
            (None, _, _) => return Err(ApiError::not_found(&served.rt, name)),
        };
        if let PatchBody::Apply(applied) = body {
            let mut applied = decode(served, applied.clone())?;
            match subresource {
                Subresource::Status => {
                    let status = applied.get("status").cloned();
                    applied = json!({"apiVersion": applied["apiVersion"], "kind": applied["kind"]});
                    if let Some(status) = status {
                        applied["status"] = status;
                    }
                }
                _ if served.rt.status_subresource => {
                    if let Value::Object(map) = &mut applied {
                        map.remove("status");
                    }
                }
                _ => {}
            }
            let live = current.map(|c| &c.value);
            let merged = managed::apply(
                live,
                &applied,
                &options.field_manager,
                &served.rt.api_version(),
                subresource.managed_name(),
                options.force,
            )
            .map_err(|conflicts| {
                let causes: Vec<Value> = conflicts
                    .iter()
                    .map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{}\"", c.manager), "field": c.field}))
                    .collect();
                let mut error = ApiError::conflict(&served.rt, name);
                error.message = managed::conflict_message(&conflicts);
                error.details["causes"] = Value::Array(causes);
                error
            })?;
            let (mutation, found) = finish(
                served,
                namespace,
                name,
                current,
                merged,
                options,
                subresource,
                Ownership::AlreadyApplied,
            )?;
            warnings = found;
            return Ok(mutation);
        }
        let Some(current) = current else {
            return Err(ApiError::not_found(&served.rt, name));
        };
        let mut patched = base;
        match body {
            PatchBody::Merge(merge) => json_patch::merge(&mut patched, merge),
            PatchBody::Strategic(strategic) => {
                // A scale is an autoscaling/v1 Scale, which tags no list.
                let root = if subresource == Subresource::Scale {
                    super::strategic::Node::Plain
                } else {
                    super::strategic::root(&served.rt)
                };
                patched = super::strategic::apply(root, patched, strategic)?;
            }
            PatchBody::Json(operations) => {
                json_patch::patch(&mut patched, operations).map_err(json_patch_error)?
            }
            PatchBody::Apply(_) => {}
        }
        check_preconditions(served, name, current, &patched)?;
        let new = if subresource == Subresource::Scale {
            apply_scale(served, &current.value, &patched)?
        } else {
            let patched_name = meta_str(&patched, "name");
            if patched_name != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({patched_name}) does not match the name on the URL ({name})"
                )));
            }
            decode(served, patched)?
        };
        let (mutation, found) =
            finish(served, namespace, name, Some(current), new, options, subresource, Ownership::Update)?;
        warnings = found;
        Ok(mutation)
    })?;
    Ok(Written {
        committed,
        warnings,
    })
}

/// kube-apiserver answers a JSON patch that does not apply (a failed `test`, a missing path) with
/// a generic `422 Invalid`; the cause is logged, not returned.
fn json_patch_error(error: json_patch::PatchError) -> ApiError {
    tracing::debug!(%error, "json patch did not apply");
    let mut failure = ApiError::new(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
    );
    failure.details = json!({});
    failure
}

/// What a delete did.
#[derive(Debug, Clone)]
pub struct Deleted {
    /// The object (its last state when gone, or with `deletionTimestamp` when finalizers hold it).
    pub committed: Committed,
}

/// `DELETE`: removes an object, or marks it for deletion while finalizers remain.
pub fn delete(
    store: &Store,
    served: &Served,
    namespace: &str,
    name: &str,
    options: &DeleteOptions,
) -> Result<Deleted, ApiError> {
    let is_namespace = served.storage_key.as_ref() == super::store::NAMESPACES;
    if is_namespace && matches!(name, "default" | "kube-system" | "kube-public") {
        let mut error = ApiError::forbidden(format!(
            "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
        ));
        error.details = json!({"name": name, "kind": "namespaces"});
        return Err(error);
    }
    let committed = store.mutate(served, namespace, name, options.dry_run, |current| {
        let Some(current) = current else {
            return Err(ApiError::not_found(&served.rt, name));
        };
        let current_uid = meta_str(&current.value, "uid");
        if let Some(uid) = &options.uid
            && uid != current_uid
        {
            return Err(ApiError::conflict_with(&served.rt, name, &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {current_uid}"
            )));
        }
        let current_rv = meta_str(&current.value, "resourceVersion");
        if let Some(rv) = &options.resource_version
            && rv != current_rv
        {
            return Err(ApiError::conflict_with(&served.rt, name, &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {current_rv}"
            )));
        }
        if is_deleting(&current.value) {
            return Ok(Mutation::Unchanged(current.clone()));
        }
        let mut new = current.value.clone();
        let mut list = finalizers(&new);
        let extra = match options.propagation {
            Propagation::Orphan => Some(ORPHAN_FINALIZER),
            Propagation::Foreground => Some(FOREGROUND_FINALIZER),
            Propagation::Background => None,
        };
        if let Some(extra) = extra
            && !list.iter().any(|f| f == extra)
            && !store.dependents(current_uid).is_empty()
        {
            list.push(extra.to_string());
            metadata_mut(&mut new).insert("finalizers".into(), json!(list));
        }
        if all_finalizers(&new, is_namespace).is_empty() {
            return Ok(Mutation::Remove(new));
        }
        let metadata = metadata_mut(&mut new);
        metadata.insert("deletionTimestamp".into(), json!(now_rfc3339()));
        metadata.insert("deletionGracePeriodSeconds".into(), json!(0));
        if is_namespace {
            new["status"] = json!({"phase": "Terminating"});
        }
        if served.storage_key.as_ref() == super::store::CRDS {
            let mut crd_status = new.get("status").cloned().unwrap_or(json!({}));
            let mut conditions =
                crd_status.get("conditions").and_then(Value::as_array).cloned().unwrap_or_default();
            conditions.push(json!({"type": "Terminating", "status": "True", "reason": "InstanceDeletionPending", "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon", "lastTransitionTime": now_rfc3339()}));
            crd_status["conditions"] = Value::Array(conditions);
            new["status"] = crd_status;
        }
        Ok(Mutation::Put(new))
    })?;
    Ok(Deleted { committed })
}

/// Removes a finalizer (what a controller does once it has cleaned up); gone when none remain.
pub fn remove_finalizer(
    store: &Store,
    served: &Served,
    namespace: &str,
    name: &str,
    finalizer: &str,
) -> Result<(), ApiError> {
    let is_namespace = served.storage_key.as_ref() == super::store::NAMESPACES;
    store.mutate(served, namespace, name, false, |current| {
        let Some(current) = current else {
            return Err(ApiError::not_found(&served.rt, name));
        };
        let mut new = current.value.clone();
        let mut changed = false;
        if is_namespace
            && finalizer == "kubernetes"
            && let Some(Value::Array(spec)) = new.pointer_mut("/spec/finalizers")
        {
            let before = spec.len();
            spec.retain(|f| f != "kubernetes");
            changed |= spec.len() != before;
        }
        let list = finalizers(&new);
        if list.iter().any(|f| f == finalizer) {
            let kept: Vec<String> = list.into_iter().filter(|f| f != finalizer).collect();
            let metadata = metadata_mut(&mut new);
            if kept.is_empty() {
                metadata.remove("finalizers");
            } else {
                metadata.insert("finalizers".into(), json!(kept));
            }
            changed = true;
        }
        if !changed {
            return Ok(Mutation::Unchanged(current.clone()));
        }
        if is_deleting(&new) && all_finalizers(&new, is_namespace).is_empty() {
            Ok(Mutation::Remove(new))
        } else {
            Ok(Mutation::Put(new))
        }
    })?;
    Ok(())
}

/// Drops owner references to `owner_uid` from an object (orphaning, or a gone co-owner).
pub fn remove_owner_reference(
    store: &Store,
    served: &Served,
    namespace: &str,
    name: &str,
    owner_uid: &str,
) -> Result<(), ApiError> {
    store.mutate(served, namespace, name, false, |current| {
        let Some(current) = current else {
            return Err(ApiError::not_found(&served.rt, name));
        };
        let mut new = current.value.clone();
        if let Some(Value::Array(refs)) = new.pointer_mut("/metadata/ownerReferences") {
            refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid));
            if refs.is_empty()
                && let Some(metadata) = new.get_mut("metadata").and_then(Value::as_object_mut)
            {
                metadata.remove("ownerReferences");
            }
        }
        if new == current.value {
            return Ok(Mutation::Unchanged(current.clone()));
        }
        Ok(Mutation::Put(new))
    })?;
    Ok(())
}
