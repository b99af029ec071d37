//! `x-kubernetes-validations` evaluation: walks an object along its schema and runs each node's
//! compiled rules (see `cel_rule.rs`, with the `cel` crate) with `self` and, for transition rules
//! on update, `oldSelf`, reporting failures the way apiextensions-apiserver's CEL validator does.

use super::field_path::{child, index, key};
use super::node::{ListType, Node};
use super::{FieldError, FieldErrorType};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

thread_local! {
    /// The standard CEL environment, built once per thread: building it per evaluation would
    /// dominate the cost of a rule.
    static ROOT_CONTEXT: cel::Context<'static, 'static> = cel::Context::default();
}

/// JSON to CEL: integers as `int`, other numbers as `double`, objects as string-keyed maps.
pub fn to_cel(value: &Value) -> cel::Value {
    match value {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => cel::Value::Int(i),
            None => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(items) => cel::Value::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(map) => {
            let converted: HashMap<String, cel::Value> =
                map.iter().map(|(k, v)| (k.clone(), to_cel(v))).collect();
            cel::Value::from(converted)
        }
    }
}

/// Walks the object like the CEL validator and evaluates every rule that applies.
pub fn validate(
    node: &Node,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    out: &mut Vec<FieldError>,
) {
    if !node.has_rules_below || value.is_null() {
        return;
    }
    let old = old.filter(|o| !o.is_null());
    if !node.rules.is_empty() {
        evaluate(node, value, old, path, out);
    }
    match value {
        Value::Array(items) => {
            if let Some(item_schema) = node.items.as_deref().filter(|s| s.has_rules_below) {
                for (i, item) in items.iter().enumerate() {
                    let old_item = if node.list_type == Some(ListType::Map) {
                        old.and_then(Value::as_array)
                            .and_then(|olds| correlated_item(node, olds, item))
                    } else {
                        None
                    };
                    validate(item_schema, item, old_item, &index(path, i), out);
                }
            }
        }
        Value::Object(map) => {
            let old_map = old.and_then(Value::as_object);
            if let Some(schema) = node.additional_schema().filter(|s| s.has_rules_below) {
                for (k, v) in map {
                    validate(
                        schema,
                        v,
                        old_map.and_then(|m| m.get(k)),
                        &key(path, k),
                        out,
                    );
                }
            }
            for (k, v) in map {
                if let Some(schema) = node.property(k).filter(|s| s.has_rules_below) {
                    validate(
                        schema,
                        v,
                        old_map.and_then(|m| m.get(k)),
                        &child(path, k),
                        out,
                    );
                }
            }
        }
        _ => {}
    }
}

/// The old element of a list-type map with the same key values.
fn correlated_item<'a>(node: &Node, olds: &'a [Value], item: &Value) -> Option<&'a Value> {
    let keys = &node.list_map_keys;
    let object = item.as_object()?;
    olds.iter().find(|old| {
        old.as_object()
            .is_some_and(|o| keys.iter().all(|k| o.get(k) == object.get(k)))
    })
}

fn evaluate(
    node: &Node,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    out: &mut Vec<FieldError>,
) {
    let old_exists = old.is_some();
    if !node.rules.iter().any(|r| old_exists || !r.uses_old_self) {
        return;
    }
    let self_value = to_cel(value);
    let old_value = old.map(to_cel);
    let declared_type = node.declared_type();
    for rule in &node.rules {
        if rule.uses_old_self && old_value.is_none() {
            // Transition rules only run when there is an old value to compare with.
            continue;
        }
        let (result, message) = ROOT_CONTEXT.with(|root| {
            let mut context = root.new_inner_scope();
            context.add_variable_from_value("self", self_value.clone());
            if let Some(old_value) = &old_value {
                context.add_variable_from_value("oldSelf", old_value.clone());
            }
            let result = rule.program.execute(&context);
            let message = match (&result, &rule.message_expression) {
                (Ok(cel::Value::Bool(false)), Some(program)) => match program.execute(&context) {
                    Ok(cel::Value::String(s)) if !s.trim().is_empty() && !s.contains('\n') => {
                        Some(s.trim().to_string())
                    }
                    _ => None,
                },
                _ => None,
            };
            (result, message)
        });
        match result {
            Ok(cel::Value::Bool(true)) => continue,
            Ok(cel::Value::Bool(false)) => {}
            Ok(other) => {
                out.push(type_named(
                    path,
                    declared_type,
                    format!(
                        "rule did not evaluate to a bool (got {:?}) evaluating rule: {}",
                        other.type_of(),
                        rule.error_string()
                    ),
                ));
                continue;
            }
            Err(err) => {
                let text = cel_go_wording(&err);
                let detail = if is_overload_error(&err) {
                    format!(
                        "'{text}': call arguments did not match a supported operator, function or macro signature for rule: {}",
                        rule.error_string()
                    )
                } else {
                    format!("{text} evaluating rule: {}", rule.error_string())
                };
                out.push(type_named(path, declared_type, detail));
                continue;
            }
        }
        let field = match &rule.field_path {
            Some(field_path) => child(path, field_path.trim_start_matches('.')),
            // A rule at the root has a nil field path, which kube prints as `<nil>`.
            None if path.is_empty() => "<nil>".to_string(),
            None => path.to_string(),
        };
        let detail = message.unwrap_or_else(|| match &rule.message {
            Some(message) => message.clone(),
            None => format!("failed rule: {}", rule.rule),
        });
        // kube omits compound values and shows scalars as they are.
        let bad_value = if matches!(value, Value::Object(_) | Value::Array(_)) {
            None
        } else {
            Some(value.clone())
        };
        let error = match rule.reason.as_deref() {
            Some("FieldValueForbidden") => FieldError {
                type_: FieldErrorType::Forbidden,
                field,
                bad_value: None,
                detail,
            },
            Some("FieldValueRequired") => FieldError {
                type_: FieldErrorType::Required,
                field,
                bad_value: None,
                detail,
            },
            Some("FieldValueDuplicate") => FieldError {
                type_: FieldErrorType::Duplicate,
                field,
                bad_value,
                detail: String::new(),
            },
            _ => FieldError {
                type_: FieldErrorType::Invalid,
                field,
                bad_value,
                detail,
            },
        };
        out.push(error);
    }
}

/// `field.Invalid(fldPath, sts.Type, ...)`: evaluation problems show the schema type as the value.
fn type_named(path: &str, declared_type: &str, detail: String) -> FieldError {
    FieldError {
        type_: FieldErrorType::Invalid,
        field: if path.is_empty() {
            "<nil>".into()
        } else {
            path.to_string()
        },
        bad_value: Some(Value::String(declared_type.to_string())),
        detail,
    }
}

/// Runtime errors as cel-go words them (kube puts that text into the field error).
fn cel_go_wording(err: &cel::ExecutionError) -> String {
    use cel::ExecutionError as E;
    match err {
        E::NoSuchKey(key) => format!("no such key: {key}"),
        E::DivisionByZero(_) => "division by zero".into(),
        E::RemainderByZero(_) => "modulus by zero".into(),
        E::Overflow(..) => "integer overflow".into(),
        E::IndexOutOfBounds(index) => match index {
            cel::Value::Int(i) => format!("index out of bounds: {i}"),
            cel::Value::UInt(i) => format!("index out of bounds: {i}"),
            other => format!("index out of bounds: {other:?}"),
        },
        _ if is_overload_error(err) => "no such overload".into(),
        other => other.to_string(),
    }
}

/// Errors cel-go reports as "no such overload" (argument types no operator or function takes).
fn is_overload_error(err: &cel::ExecutionError) -> bool {
    use cel::ExecutionError as E;
    matches!(
        err,
        E::NoSuchOverload(_)
            | E::UnsupportedBinaryOperator(..)
            | E::ValuesNotComparable(..)
            | E::UnexpectedType { .. }
    )
}
