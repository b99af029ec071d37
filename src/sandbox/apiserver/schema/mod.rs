//! Structural-schema handling for custom resources: validation against a CRD's
//! `openAPIV3Schema` with kube-apiserver's error wording, defaulting and pruning.

use serde_json::Value;

/// A CRD version's `openAPIV3Schema`, prepared for validating, defaulting and pruning objects.
#[derive(Debug, Clone)]
pub struct StructuralSchema {
    _schema: Value,
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
        self.detail.clone()
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
    pub fn new(schema: Value) -> Result<Self, Vec<FieldError>> {
        Ok(Self { _schema: schema })
    }

    /// Fills in `default`s, as kube-apiserver does when reading a request body.
    pub fn apply_defaults(&self, _object: &mut Value) {}

    /// Drops fields the schema does not know (unless `x-kubernetes-preserve-unknown-fields`) and
    /// returns their paths (e.g. `spec.foo`), for `fieldValidation=Strict|Warn`. `apiVersion`,
    /// `kind` and `metadata` at the root are never pruned here.
    pub fn prune(&self, _object: &mut Value) -> Vec<String> {
        Vec::new()
    }

    /// Validates an object (after defaulting and pruning). `old` is the stored object on update,
    /// for transition rules. Empty means valid.
    pub fn validate(&self, _object: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        Vec::new()
    }
}
