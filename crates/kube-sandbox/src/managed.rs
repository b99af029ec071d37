//! Field ownership (`metadata.managedFields`) and server-side apply. Lists are atomic (the
//! default for custom resources), so a field is a path of map keys ending at a scalar, a list or
//! an empty map.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::object::now_rfc3339;

/// A field: the map keys leading to it.
pub type FieldPath = Vec<String>;
/// A set of fields.
pub type FieldSet = BTreeSet<FieldPath>;

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedEntry {
    /// The field manager.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// API version the manager wrote with.
    pub api_version: String,
    /// When the entry last changed.
    pub time: String,
    /// `status`, `scale` or empty.
    pub subresource: String,
    /// The fields it owns.
    pub fields: FieldSet,
}

const SERVER_OWNED_METADATA: [&str; 11] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "generateName",
];

/// The fields an object sets (apiVersion, kind and server-owned metadata excluded).
pub fn leaves(object: &Value) -> FieldSet {
    let mut set = FieldSet::new();
    if let Value::Object(root) = object {
        for (key, value) in root {
            match key.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => {
                    if let Value::Object(metadata) = value {
                        for (field, inner) in metadata {
                            if !SERVER_OWNED_METADATA.contains(&field.as_str()) {
                                collect(inner, vec![key.clone(), field.clone()], &mut set);
                            }
                        }
                    }
                }
                _ => collect(value, vec![key.clone()], &mut set),
            }
        }
    }
    set
}

fn collect(value: &Value, path: FieldPath, set: &mut FieldSet) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, inner) in map {
                let mut child = path.clone();
                child.push(key.clone());
                collect(inner, child, set);
            }
        }
        _ => {
            set.insert(path);
        }
    }
}

/// The value at a field path.
pub fn value_at<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(object, |value, key| value.get(key))
}

fn remove_path(object: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = object;
    for key in parents {
        match current.get_mut(key) {
            Some(next) => current = next,
            None => return,
        }
    }
    if let Value::Object(map) = current {
        map.remove(last);
    }
}

/// `.spec.model`, as conflicts name a field.
pub fn render_path(path: &[String]) -> String {
    path.iter().map(|key| format!(".{key}")).collect()
}

fn fields_v1(fields: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in fields {
        let mut node = &mut root;
        for key in path {
            let entry = node.entry(format!("f:{key}")).or_insert_with(|| json!({}));
            if !entry.is_object() {
                *entry = json!({});
            }
            match entry {
                Value::Object(map) => node = map,
                _ => break,
            }
        }
    }
    Value::Object(root)
}

fn parse_fields_v1(value: &Value, path: FieldPath, set: &mut FieldSet) {
    let Value::Object(map) = value else { return };
    let children: Vec<_> = map
        .iter()
        .filter(|(key, _)| key.starts_with("f:"))
        .collect();
    if children.is_empty() {
        if !path.is_empty() {
            set.insert(path);
        }
        return;
    }
    for (key, inner) in children {
        let mut child = path.clone();
        child.push(key[2..].to_string());
        parse_fields_v1(inner, child, set);
    }
}

/// The entries of an object's `metadata.managedFields`.
pub fn entries(object: &Value) -> Vec<ManagedEntry> {
    let Some(items) = object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    items
        .iter()
        .map(|item| {
            let text = |field: &str| {
                item.get(field)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let mut fields = FieldSet::new();
            if let Some(v1) = item.get("fieldsV1") {
                parse_fields_v1(v1, Vec::new(), &mut fields);
            }
            ManagedEntry {
                manager: text("manager"),
                operation: text("operation"),
                api_version: text("apiVersion"),
                time: text("time"),
                subresource: text("subresource"),
                fields,
            }
        })
        .collect()
}

/// Writes entries back into `metadata.managedFields` (dropping empty ones).
pub fn store_entries(object: &mut Value, list: &[ManagedEntry]) {
    let rendered: Vec<Value> = list
        .iter()
        .filter(|entry| !entry.fields.is_empty())
        .map(|entry| {
            let mut item = json!({
                "manager": entry.manager,
                "operation": entry.operation,
                "apiVersion": entry.api_version,
                "time": entry.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": fields_v1(&entry.fields),
            });
            if !entry.subresource.is_empty() {
                item["subresource"] = json!(entry.subresource);
            }
            item
        })
        .collect();
    let metadata = super::object::metadata_mut(object);
    if rendered.is_empty() {
        metadata.remove("managedFields");
    } else {
        metadata.insert("managedFields".into(), Value::Array(rendered));
    }
}

fn overlaps(a: &FieldPath, b: &FieldPath) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Records a non-apply write by `manager`: it owns the fields it changed, others lose them, and
/// fields that no longer exist are owned by nobody.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    subresource: &str,
) {
    let mut list = old.map(entries).unwrap_or_default();
    let new_fields = leaves(new);
    let changed: FieldSet = new_fields
        .iter()
        .filter(|path| old.and_then(|o| value_at(o, path)) != value_at(new, path))
        .cloned()
        .collect();
    let before = list.clone();
    for entry in &mut list {
        entry
            .fields
            .retain(|path| new_fields.contains(path) && !changed.contains(path));
    }
    if !changed.is_empty() {
        let now = now_rfc3339();
        match list.iter_mut().find(|e| {
            e.manager == manager && e.operation == "Update" && e.subresource == subresource
        }) {
            Some(entry) => {
                entry.fields.extend(changed);
                entry.time = now;
                entry.api_version = api_version.to_string();
            }
            None => list.push(ManagedEntry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                time: now,
                subresource: subresource.to_string(),
                fields: changed,
            }),
        }
    }
    // Unchanged ownership keeps the stored entries byte for byte (a no-op write stays a no-op);
    // what a client sends in managedFields is never taken as is.
    match old.and_then(|o| o.pointer("/metadata/managedFields")) {
        Some(old_fields) if list == before => {
            super::object::metadata_mut(new).insert("managedFields".into(), old_fields.clone());
        }
        _ => store_entries(new, &list),
    }
}

/// One field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The other manager.
    pub manager: String,
    /// Its operation and API version (`Update` conflicts name the version).
    pub operation: String,
    /// Its API version.
    pub api_version: String,
    /// The field, e.g. `.spec.model`.
    pub field: String,
}

/// Applies `applied` as `manager`'s whole intent over `live`: fields it no longer sets are
/// removed (unless another manager owns them), fields others own with another value conflict
/// unless `force`.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    api_version: &str,
    subresource: &str,
    force: bool,
) -> Result<Value, Vec<Conflict>> {
    let mut list = live.map(entries).unwrap_or_default();
    let applied_fields = leaves(applied);
    let mut conflicts = Vec::new();
    for entry in &list {
        if entry.manager == manager {
            continue;
        }
        for path in &applied_fields {
            let owned = entry.fields.iter().any(|owned| overlaps(owned, path));
            let differs = live.and_then(|l| value_at(l, path)) != value_at(applied, path);
            if owned && differs {
                conflicts.push(Conflict {
                    manager: entry.manager.clone(),
                    operation: entry.operation.clone(),
                    api_version: entry.api_version.clone(),
                    field: render_path(path),
                });
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    let mut result = live.cloned().unwrap_or_else(|| json!({}));
    let previously_owned: FieldSet = list
        .iter()
        .filter(|e| e.manager == manager && e.operation == "Apply" && e.subresource == subresource)
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    for path in previously_owned.difference(&applied_fields) {
        let owned_by_other = list
            .iter()
            .any(|e| !(e.manager == manager && e.operation == "Apply") && e.fields.contains(path));
        if !owned_by_other {
            remove_path(&mut result, path);
        }
    }
    merge_into(&mut result, applied);
    for entry in &mut list {
        if entry.manager == manager && entry.operation == "Apply" {
            continue;
        }
        if force {
            entry
                .fields
                .retain(|path| !applied_fields.iter().any(|a| overlaps(a, path)));
        }
        // The applier's Update entry hands its fields over to the Apply entry.
        if entry.manager == manager {
            entry.fields.retain(|path| !applied_fields.contains(path));
        }
    }
    let now = now_rfc3339();
    match list
        .iter_mut()
        .find(|e| e.manager == manager && e.operation == "Apply" && e.subresource == subresource)
    {
        Some(entry) => {
            if entry.fields != applied_fields {
                entry.time = now;
            }
            entry.fields = applied_fields;
            entry.api_version = api_version.to_string();
        }
        None => list.push(ManagedEntry {
            manager: manager.to_string(),
            operation: "Apply".into(),
            api_version: api_version.to_string(),
            time: now,
            subresource: subresource.to_string(),
            fields: applied_fields,
        }),
    }
    let existing = leaves(&result);
    for entry in &mut list {
        entry.fields.retain(|path| existing.contains(path));
    }
    store_entries(&mut result, &list);
    Ok(result)
}

/// Merges maps recursively; everything else in `patch` replaces.
fn merge_into(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    continue;
                }
                match target.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge_into(existing, value)
                    }
                    _ => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// kube's conflict message: `Apply failed with 1 conflict: conflict with "m": .spec.model`.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    let who = |c: &Conflict| {
        if c.operation == "Update" {
            format!("\"{}\" using {}", c.manager, c.api_version)
        } else {
            format!("\"{}\"", c.manager)
        }
    };
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            who(only),
            only.field
        );
    }
    let mut managers: Vec<String> = conflicts.iter().map(who).collect();
    managers.dedup();
    let groups: Vec<String> = managers
        .iter()
        .map(|manager| {
            let fields: Vec<String> = conflicts
                .iter()
                .filter(|c| who(c) == *manager)
                .map(|c| format!("- {}", c.field))
                .collect();
            format!("conflicts with {manager}:\n{}", fields.join("\n"))
        })
        .collect();
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        groups.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_removes_dropped_fields_and_detects_conflicts() {
        let first = apply(
            None,
            &json!({"spec": {"a": 1, "b": 2}}),
            "x",
            "v1",
            "",
            false,
        )
        .expect("no conflict on create");
        let second = apply(
            Some(&first),
            &json!({"spec": {"a": 1}}),
            "x",
            "v1",
            "",
            false,
        )
        .expect("same manager");
        assert_eq!(second["spec"], json!({"a": 1}));
        let conflicts = apply(
            Some(&second),
            &json!({"spec": {"a": 5}}),
            "y",
            "v1",
            "",
            false,
        )
        .expect_err("owned by x");
        assert_eq!(conflicts[0].field, ".spec.a");
        let forced = apply(
            Some(&second),
            &json!({"spec": {"a": 5}}),
            "y",
            "v1",
            "",
            true,
        )
        .expect("forced");
        let owners = entries(&forced);
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].manager, "y");
    }
}
