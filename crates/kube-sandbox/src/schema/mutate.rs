//! Defaulting and pruning as apiextensions-apiserver does them on request bodies: `default`s for
//! absent (or non-nullable null) fields, unknown fields dropped and reported in sorted order,
//! non-nullable nulls without a default removed.

use super::node::{Additional, Node};
use serde_json::Value;

/// `structuraldefaulting.Default`.
pub fn apply_defaults(node: &Node, value: &mut Value) {
    if !node.has_defaults_below {
        return;
    }
    match value {
        Value::Object(map) => {
            for (name, property) in &node.properties {
                let Some(default) = &property.default else {
                    continue;
                };
                let needs_default = match map.get(name) {
                    None => true,
                    Some(Value::Null) => !property.nullable,
                    Some(_) => false,
                };
                if needs_default {
                    map.insert(name.clone(), default.clone());
                }
            }
            for (name, child) in map.iter_mut() {
                if let Some(property) = node.property(name) {
                    apply_defaults(property, child);
                } else if let Some(schema) = node.additional_schema() {
                    if child.is_null() && !schema.nullable {
                        *child = schema.default.clone().unwrap_or(Value::Null);
                    }
                    apply_defaults(schema, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = &node.items {
                for item in items.iter_mut() {
                    if item.is_null() && !item_schema.nullable {
                        *item = item_schema.default.clone().unwrap_or(Value::Null);
                    }
                    apply_defaults(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Pruning state: the path being walked, in kube's `UnknownFieldPathOptions` notation.
pub struct Pruner {
    path: String,
    pub unknown: Vec<String>,
}

impl Pruner {
    pub fn new() -> Self {
        Pruner {
            path: String::new(),
            unknown: Vec::new(),
        }
    }

    fn with_key<R>(&mut self, key: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        let len = self.path.len();
        if !self.path.is_empty() {
            self.path.push('.');
        }
        self.path.push_str(key);
        let result = f(self);
        self.path.truncate(len);
        result
    }

    fn with_index<R>(&mut self, index: usize, f: impl FnOnce(&mut Self) -> R) -> R {
        let len = self.path.len();
        self.path.push('[');
        self.path.push_str(&index.to_string());
        self.path.push(']');
        let result = f(self);
        self.path.truncate(len);
        result
    }

    fn record(&mut self, key: &str) {
        let entry = if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        };
        self.unknown.push(entry);
    }

    /// `prune`, with the root treated as an embedded resource (its apiVersion/kind/metadata kept).
    pub fn prune(&mut self, node: Option<&Node>, value: &mut Value, is_root: bool) {
        if let Some(node) = node
            && node.preserve_unknown_fields
        {
            self.skip_prune(node, value, is_root);
            return;
        }
        match value {
            Value::Object(map) => {
                let Some(node) = node else {
                    for key in map.keys() {
                        self.record(key);
                    }
                    map.clear();
                    return;
                };
                let embedded = is_root || node.embedded_resource;
                let mut dropped = Vec::new();
                for (key, child) in map.iter_mut() {
                    if embedded && META_FIELDS.contains(&key.as_str()) {
                        continue;
                    }
                    if let Some(property) = node.property(key) {
                        self.with_key(key, |p| p.prune(Some(property), child, false));
                    } else if let Some(additional) = &node.additional {
                        let schema = match additional {
                            Additional::Schema(schema) => Some(schema.as_ref()),
                            Additional::Allowed | Additional::Forbidden => None,
                        };
                        self.with_key(key, |p| p.prune(schema, child, false));
                    } else {
                        dropped.push(key.clone());
                    }
                }
                for key in dropped {
                    self.record(&key);
                    map.shift_remove(&key);
                }
            }
            Value::Array(items) => {
                let item_schema = node.and_then(|n| n.items.as_deref());
                for (i, item) in items.iter_mut().enumerate() {
                    self.with_index(i, |p| p.prune(item_schema, item, false));
                }
            }
            _ => {}
        }
    }

    fn skip_prune(&mut self, node: &Node, value: &mut Value, is_root: bool) {
        match value {
            Value::Object(map) => {
                let embedded = is_root || node.embedded_resource;
                for (key, child) in map.iter_mut() {
                    if embedded && META_FIELDS.contains(&key.as_str()) {
                        continue;
                    }
                    if let Some(property) = node.property(key) {
                        self.with_key(key, |p| p.prune(Some(property), child, false));
                    } else if let Some(schema) = node.additional_schema() {
                        self.with_key(key, |p| p.prune(Some(schema), child, false));
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = node.items.as_deref() {
                    for (i, item) in items.iter_mut().enumerate() {
                        self.with_index(i, |p| p.skip_prune(item_schema, item, false));
                    }
                }
            }
            _ => {}
        }
    }
}

/// `PruneNonNullableNullsWithoutDefaults`: drops nulls the schema does not allow and cannot
/// default, so they read as absent.
pub fn prune_non_nullable_nulls(node: Option<&Node>, value: &mut Value) {
    match value {
        Value::Object(map) => {
            let schema_of =
                |key: &str| node.and_then(|n| n.property(key).or_else(|| n.additional_schema()));
            map.retain(|key, child| {
                !(child.is_null()
                    && schema_of(key).is_some_and(|s| !s.nullable && s.default.is_none()))
            });
            for (key, child) in map.iter_mut() {
                prune_non_nullable_nulls(schema_of(key), child);
            }
        }
        Value::Array(items) => {
            let item_schema = node.and_then(|n| n.items.as_deref());
            for item in items.iter_mut() {
                prune_non_nullable_nulls(item_schema, item);
            }
        }
        _ => {}
    }
}
