//! Structural-schema handling for custom resources: validation against a CRD's
//! `openAPIV3Schema` with kube-apiserver's error wording, defaulting and pruning.

mod cel;
mod cel_rule;
mod field_path;
mod formats;
pub mod gofmt;
mod mutate;
mod node;
#[cfg(test)]
mod tests;
mod validate;

use serde_json::Value;
use std::sync::Arc;

/// A CRD version's `openAPIV3Schema`, prepared for validating, defaulting and pruning objects.
/// Cloning is cheap (the compiled tree is shared).
#[derive(Debug, Clone)]
pub struct StructuralSchema {
    root: Arc<node::Node>,
}

/// The kind of a field error, as `k8s.io/apimachinery/pkg/util/validation/field` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorType {
    /// `FieldValueNotFound`.
    NotFound,
    /// `FieldValueRequired`.
    Required,
    /// `FieldValueDuplicate`.
    Duplicate,
    /// `FieldValueInvalid`.
    Invalid,
    /// `FieldValueNotSupported`.
    NotSupported,
    /// `FieldValueForbidden`.
    Forbidden,
    /// `FieldValueTooLong`.
    TooLong,
    /// `FieldValueTooMany`.
    TooMany,
    /// `FieldValueTypeInvalid`.
    TypeInvalid,
}

/// One field error, rendered the way kube-apiserver renders it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// What kind of error.
    pub type_: FieldErrorType,
    /// Field path, e.g. `spec.storageGB` or `spec.items[2].name`.
    pub field: String,
    /// The offending value, when the message shows it.
    pub bad_value: Option<Value>,
    /// The detail, e.g. `spec.storageGB in body should be greater than or equal to 1`.
    pub detail: String,
}

impl FieldError {
    /// The `reason` of a `Status` cause, e.g. `FieldValueInvalid`.
    pub fn reason(&self) -> &'static str {
        match self.type_ {
            FieldErrorType::NotFound => "FieldValueNotFound",
            FieldErrorType::Required => "FieldValueRequired",
            FieldErrorType::Duplicate => "FieldValueDuplicate",
            FieldErrorType::Invalid => "FieldValueInvalid",
            FieldErrorType::NotSupported => "FieldValueNotSupported",
            FieldErrorType::Forbidden => "FieldValueForbidden",
            FieldErrorType::TooLong => "FieldValueTooLong",
            FieldErrorType::TooMany => "FieldValueTooMany",
            FieldErrorType::TypeInvalid => "FieldValueTypeInvalid",
        }
    }

    /// The cause's `message`: the error without the field prefix, e.g.
    /// `Invalid value: 0: spec.storageGB in body should be greater than or equal to 1`.
    pub fn body(&self) -> String {
        let label = self.type_label();
        let mut body = match (&self.type_, &self.bad_value) {
            (FieldErrorType::Required | FieldErrorType::Forbidden | FieldErrorType::TooLong, _)
            | (_, None) => label.to_string(),
            (_, Some(value)) => format!("{label}: {}", gofmt::bad_value(value)),
        };
        if !self.detail.is_empty() {
            body.push_str(": ");
            body.push_str(&self.detail);
        }
        body
    }

    /// How kube names the error type in messages (`field.ErrorType.String()`).
    pub fn type_label(&self) -> &'static str {
        match self.type_ {
            FieldErrorType::NotFound => "Not found",
            FieldErrorType::Required => "Required value",
            FieldErrorType::Duplicate => "Duplicate value",
            FieldErrorType::Invalid | FieldErrorType::TypeInvalid => "Invalid value",
            FieldErrorType::NotSupported => "Unsupported value",
            FieldErrorType::Forbidden => "Forbidden",
            FieldErrorType::TooLong => "Too long",
            FieldErrorType::TooMany => "Too many",
        }
    }

    /// Whether kube stops before running `x-kubernetes-validations` because of this error.
    fn blocks_rules(&self) -> bool {
        matches!(
            self.type_,
            FieldErrorType::NotSupported
                | FieldErrorType::Required
                | FieldErrorType::TooLong
                | FieldErrorType::TooMany
                | FieldErrorType::TypeInvalid
        )
    }
}

impl std::fmt::Display for FieldError {
    /// `field: body`, as in a `Status` message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

impl StructuralSchema {
    /// Prepares a schema; an error lists what makes it unusable (as a CRD create would reject).
    /// Error fields start at `openAPIV3Schema` (kube prefixes them with
    /// `spec.versions[i].schema.`). Patterns and CEL rules are compiled here, once.
    pub fn new(schema: Value) -> Result<Self, Vec<FieldError>> {
        Self::new_at(schema, "openAPIV3Schema")
    }

    /// Like [`StructuralSchema::new`], with error fields rooted at `path`, e.g.
    /// `spec.versions[0].schema.openAPIV3Schema` as kube reports them for a CRD.
    pub fn new_at(schema: Value, path: &str) -> Result<Self, Vec<FieldError>> {
        let root = node::Compiler::compile_root(&schema, path)?;
        Ok(Self {
            root: Arc::new(root),
        })
    }

    /// Fills in `default`s, as kube-apiserver does when reading a request body.
    pub fn apply_defaults(&self, object: &mut Value) {
        mutate::apply_defaults(&self.root, object);
    }

    /// Drops fields the schema does not know (unless `x-kubernetes-preserve-unknown-fields`) and
    /// returns their paths (e.g. `spec.foo`, `spec.items[0].bar`), sorted as kube sorts them, for
    /// `fieldValidation=Strict|Warn`. `apiVersion`, `kind` and `metadata` at the root are never
    /// pruned here. Also drops nulls the schema neither allows nor defaults (not reported), as
    /// kube does right after pruning.
    pub fn prune(&self, object: &mut Value) -> Vec<String> {
        let mut pruner = mutate::Pruner::new();
        pruner.prune(Some(&self.root), object, true);
        mutate::prune_non_nullable_nulls(Some(&self.root), object);
        let mut unknown = pruner.unknown;
        unknown.sort();
        unknown
    }

    /// Validates an object (after defaulting and pruning). `old` is the stored object on update,
    /// for transition rules. Empty means valid. Order: schema errors (kube-openapi, properties
    /// in schema order, then `required`), embedded resources' apiVersion/kind, list-type
    /// duplicates, then CEL rules, which like kube are skipped with a note when a blocking error
    /// (unsupported, required, too long, too many, wrong type) was found.
    pub fn validate(&self, object: &Value, old: Option<&Value>) -> Vec<FieldError> {
        let mut errors = Vec::new();
        validate::SchemaValidation { out: &mut errors }.value(&self.root, object, "");
        validate::embedded_resources(&self.root, object, "", &mut errors);
        let old_lists_valid = old.is_none_or(|old| {
            let mut old_errors = Vec::new();
            validate::list_sets_and_maps(&self.root, old, "", &mut old_errors);
            old_errors.is_empty()
        });
        if old_lists_valid {
            validate::list_sets_and_maps(&self.root, object, "", &mut errors);
        }
        if self.root.has_rules_below {
            if errors.iter().any(FieldError::blocks_rules) {
                errors.push(FieldError {
                    type_: FieldErrorType::Invalid,
                    field: "<nil>".into(),
                    bad_value: Some(Value::Null),
                    detail: "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation".into(),
                });
            } else {
                cel::validate(&self.root, object, old, "", &mut errors);
            }
        }
        let mut seen = std::collections::HashSet::new();
        errors.retain(|e| seen.insert(e.to_string()));
        errors
    }
}
