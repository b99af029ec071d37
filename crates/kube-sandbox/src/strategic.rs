//! Strategic merge patch (`application/strategic-merge-patch+json`) for the built-in kinds, as
//! kube-apiserver applies it (apimachinery's `strategicpatch.StrategicMergeMapPatch`): maps merge
//! key by key, lists whose Go field carries `patchStrategy:"merge"` merge element by element (by
//! their `patchMergeKey`, or by value for lists of scalars), every other list is replaced, and
//! the directives `$patch` (`replace`, `delete`), `$setElementOrder/<list>`,
//! `$deleteFromPrimitiveList/<list>` and `$retainKeys` steer the merge.
//!
//! kube-apiserver reads the strategies from the Go struct tags of k8s.io/api; [`field`] is that
//! table for the kinds the sandbox serves. Custom resources have no such tags, which is why
//! kube-apiserver (and the HTTP layer here) refuses strategic merge patches for them.

use serde_json::{Map, Value};

use super::error::ApiError;
use super::registry::ResourceType;

/// What the patch schema knows about a JSON value: the Go type it decodes into, reduced to
/// what matters for patching (which of its fields are merging lists, which lead to such types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// No merging list at or below this value: maps merge, lists are replaced.
    Plain,
    /// The top of an object whose only merging lists are in `metadata`.
    Object,
    /// A Namespace (status conditions merge by type).
    Namespace,
    /// A Service (ports by port, status conditions by type).
    Service,
    /// A ServiceAccount (secrets by name).
    ServiceAccount,
    /// An apps/v1 Deployment (the pod template; status conditions by type).
    Deployment,
    /// `metav1.ObjectMeta`.
    ObjectMeta,
    /// A status whose `conditions` merge by `type`.
    ConditionsStatus,
    /// `core/v1.ServiceSpec`.
    ServiceSpec,
    /// `apps/v1.DeploymentSpec`.
    DeploymentSpec,
    /// `core/v1.PodTemplateSpec`.
    PodTemplateSpec,
    /// `core/v1.PodSpec`.
    PodSpec,
    /// `core/v1.Container` (also `EphemeralContainer`, which shares its list fields).
    Container,
}

/// How a list field merges: its Go field's `patchStrategy` and `patchMergeKey` tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lists {
    /// No `patchStrategy`: the patch's list replaces the object's.
    Replace,
    /// `patchStrategy:"merge"`: elements merge, maps by this `patchMergeKey` (`None` for lists
    /// of scalars, which merge as sets).
    Merge(Option<&'static str>),
}

/// The schema node a patch of this kind starts at.
pub fn root(rt: &ResourceType) -> Node {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => Node::Namespace,
        ("", "Service") => Node::Service,
        ("", "ServiceAccount") => Node::ServiceAccount,
        ("apps", "Deployment") => Node::Deployment,
        _ => Node::Object,
    }
}

/// The type of field `name` of a `node` value and how it merges if it is a list. The tags are
/// k8s.io/api's (`types.go` of core/v1 and apps/v1) and apimachinery's (`ObjectMeta`); the
/// other served kinds (Secret, ConfigMap, Event, Lease, RBAC, CRD) tag no list.
fn field(node: Node, name: &str) -> (Node, Lists) {
    use Lists::{Merge, Replace};
    use Node::*;
    match (node, name) {
        (
            Object | Namespace | Service | ServiceAccount | Deployment | PodTemplateSpec,
            "metadata",
        ) => (ObjectMeta, Replace),
        (ObjectMeta, "finalizers") => (Plain, Merge(None)),
        (ObjectMeta, "ownerReferences") => (Plain, Merge(Some("uid"))),
        (Namespace | Service | Deployment, "status") => (ConditionsStatus, Replace),
        (ConditionsStatus, "conditions") => (Plain, Merge(Some("type"))),
        (Service, "spec") => (ServiceSpec, Replace),
        (ServiceSpec, "ports") => (Plain, Merge(Some("port"))),
        (ServiceAccount, "secrets") => (Plain, Merge(Some("name"))),
        (Deployment, "spec") => (DeploymentSpec, Replace),
        (DeploymentSpec, "template") => (PodTemplateSpec, Replace),
        (PodTemplateSpec, "spec") => (PodSpec, Replace),
        (PodSpec, "containers" | "initContainers" | "ephemeralContainers") => {
            (Container, Merge(Some("name")))
        }
        (PodSpec, "volumes" | "imagePullSecrets" | "schedulingGates" | "resourceClaims") => {
            (Plain, Merge(Some("name")))
        }
        (PodSpec, "hostAliases") => (Plain, Merge(Some("ip"))),
        (PodSpec, "topologySpreadConstraints") => (Plain, Merge(Some("topologyKey"))),
        (Container, "ports") => (Plain, Merge(Some("containerPort"))),
        (Container, "env") => (Plain, Merge(Some("name"))),
        (Container, "volumeMounts") => (Plain, Merge(Some("mountPath"))),
        (Container, "volumeDevices") => (Plain, Merge(Some("devicePath"))),
        _ => (Plain, Replace),
    }
}

/// Whether a field's `patchStrategy` also has `retainKeys` (which only tells clients to send
/// `$retainKeys`; the server honours the directive wherever it comes).
fn retains_keys(node: Node, name: &str) -> bool {
    matches!(
        (node, name),
        (Node::DeploymentSpec, "strategy") | (Node::PodSpec, "volumes" | "resourceClaims")
    )
}

/// OpenAPI component schemas of the nodes whose fields carry patch strategies.
const COMPONENTS: &[(&str, Node)] = &[
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        Node::ObjectMeta,
    ),
    ("io.k8s.api.core.v1.NamespaceStatus", Node::ConditionsStatus),
    ("io.k8s.api.core.v1.ServiceStatus", Node::ConditionsStatus),
    (
        "io.k8s.api.apps.v1.DeploymentStatus",
        Node::ConditionsStatus,
    ),
    ("io.k8s.api.core.v1.ServiceSpec", Node::ServiceSpec),
    ("io.k8s.api.core.v1.ServiceAccount", Node::ServiceAccount),
    ("io.k8s.api.apps.v1.DeploymentSpec", Node::DeploymentSpec),
    ("io.k8s.api.core.v1.PodSpec", Node::PodSpec),
    ("io.k8s.api.core.v1.Container", Node::Container),
    ("io.k8s.api.core.v1.EphemeralContainer", Node::Container),
];

/// Adds `x-kubernetes-patch-strategy` and `x-kubernetes-patch-merge-key` to the OpenAPI
/// component schemas, as kube-apiserver publishes them. Client-side `kubectl apply` reads them
/// to compute its patch: without them it treats every list as atomic and resends it whole.
pub fn annotate_schemas(components: &mut Map<String, Value>) {
    for (name, node) in COMPONENTS {
        let Some(properties) = components
            .get_mut(*name)
            .and_then(|schema| schema.get_mut("properties"))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        for (field_name, property) in properties.iter_mut() {
            let (_, lists) = field(*node, field_name);
            let strategy = match (lists, retains_keys(*node, field_name)) {
                (Lists::Merge(_), true) => "merge,retainKeys",
                (Lists::Merge(_), false) => "merge",
                (Lists::Replace, true) => "retainKeys",
                (Lists::Replace, false) => continue,
            };
            let Value::Object(property) = property else {
                continue;
            };
            property.insert("x-kubernetes-patch-strategy".into(), strategy.into());
            if let Lists::Merge(Some(key)) = lists {
                property.insert("x-kubernetes-patch-merge-key".into(), key.into());
            }
        }
    }
}

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

/// Applies a strategic merge patch to `original` (an object of the kind `root` describes).
///
/// Errors carry kube-apiserver's codes: malformed directives are `400 BadRequest`, lists of
/// lists `422 Invalid`, and everything apimachinery reports as a plain Go error (a missing merge
/// key, an unknown `$patch`) a `500` with an empty reason, as kube-apiserver answers those.
pub fn apply(root: Node, original: Value, patch: &Value) -> Result<Value, ApiError> {
    let Value::Object(patch) = patch else {
        return Err(ApiError::bad_request(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            json_kind(patch)
        )));
    };
    let original = match original {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let mut merged = Value::Object(merge_map(original, patch.clone(), root)?);
    // kube-apiserver decodes the result into the Go type, which has no fields for directives
    // left inside values the object did not have before; drop them likewise.
    strip_directives(&mut merged);
    Ok(merged)
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn internal(message: String) -> ApiError {
    ApiError::new(500, "", message)
}

fn bad_format(what: &str) -> ApiError {
    ApiError::bad_request(format!("invalid patch format of {what}"))
}

fn no_merge_key(map: &Value, key: &str) -> ApiError {
    internal(format!(
        "map: {map} does not contain declared merge key: {key}"
    ))
}

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    node: Node,
) -> Result<Map<String, Value>, ApiError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => {
                patch.shift_remove(DIRECTIVE);
                Ok(patch)
            }
            Some("delete") => Ok(Map::new()),
            _ => Err(internal(format!(
                "unknown patch type: {directive} in map: {}",
                Value::Object(patch.clone())
            ))),
        };
    }
    retain_keys(&mut original, &mut patch)?;
    set_element_orders(&mut original, &mut patch, node)?;
    for (key, value) in patch {
        let (name, deletion) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            let name = key
                .strip_prefix(DELETE_FROM_PRIMITIVE_LIST)
                .and_then(|rest| rest.strip_prefix('/'))
                .filter(|name| !name.is_empty())
                .ok_or_else(|| bad_format("primitive list"))?;
            (name.to_string(), true)
        } else {
            (key, false)
        };
        if value.is_null() {
            original.shift_remove(&name);
            continue;
        }
        // Taken out in place, so a merged field keeps its position among the object's keys.
        let existing = original.get_mut(&name).map(std::mem::take);
        let merged = match (existing, value) {
            (Some(Value::Object(existing)), Value::Object(value)) => {
                let (child, _) = field(node, &name);
                Some(Value::Object(merge_map(existing, value, child)?))
            }
            (Some(Value::Array(existing)), Value::Array(value)) => {
                let (child, lists) = field(node, &name);
                Some(Value::Array(merge_list(
                    existing, value, child, lists, deletion,
                )?))
            }
            // A deletion list only ever removes from a list that is there.
            (existing, _) if deletion => existing,
            (_, mut value) => {
                discard_nulls(&mut value);
                remove_directives(value)
            }
        };
        match merged {
            Some(merged) => {
                original.insert(name, merged);
            }
            None => {
                original.shift_remove(&name);
            }
        }
    }
    Ok(original)
}

/// `$retainKeys`: the object keeps only the listed keys (the ones the patch sets must be among
/// them).
fn retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), ApiError> {
    let Some(retained) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retained) = retained else {
        return Err(bad_format("retainKeys"));
    };
    let keeps = |key: &str| retained.iter().any(|k| k.as_str() == Some(key));
    for (key, value) in patch.iter() {
        if value.is_null()
            || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || key.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !keeps(key) {
            return Err(bad_format("retainKeys"));
        }
    }
    original.retain(|key, _| keeps(key));
    Ok(())
}

/// `$setElementOrder/<list>`: merges `<list>` (if the patch has it) and orders the result:
/// the listed elements in the listed order, the object's other elements where they were.
fn set_element_orders(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    node: Node,
) -> Result<(), ApiError> {
    let directives: Vec<String> = patch
        .keys()
        .filter(|key| key.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for directive in directives {
        let order = patch.shift_remove(&directive).unwrap_or(Value::Null);
        let Value::Array(order) = order else {
            return Err(internal(format!(
                "expected a []interface {{}}, but received a {}",
                json_kind(&order)
            )));
        };
        let name = directive
            .strip_prefix(SET_ELEMENT_ORDER)
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|name| !name.is_empty())
            .ok_or_else(|| bad_format("setElementOrder list"))?
            .to_string();
        let as_list = |value: Option<&Value>| -> Result<Option<Vec<Value>>, ApiError> {
            match value {
                None => Ok(None),
                Some(Value::Array(items)) => Ok(Some(items.clone())),
                Some(other) => Err(internal(format!(
                    "expected a []interface {{}}, but received a {}",
                    json_kind(other)
                ))),
            }
        };
        let in_original = as_list(original.get(&name))?;
        let in_patch = as_list(patch.get(&name))?;
        let (child, lists) = field(node, &name);
        let key = match lists {
            Lists::Merge(key) => key,
            Lists::Replace => None,
        };
        if let Some(in_patch) = &in_patch {
            check_order(in_patch, &order, key)?;
        }
        let merged = match (in_original.clone(), in_patch) {
            (Some(existing), None) => existing,
            (None, Some(added)) => match remove_directives(Value::Array(added)) {
                Some(Value::Array(added)) => added,
                _ => Vec::new(),
            },
            (Some(existing), Some(patched)) => merge_list(existing, patched, child, lists, false)?,
            (None, None) => continue,
        };
        patch.shift_remove(&name);
        let ordered = if lists == Lists::Replace {
            merged
        } else {
            let server_order = in_original.unwrap_or_default();
            let (listed, server_only) = partition(merged, &order, key)?;
            normalize_order(listed, server_only, &order, &server_order, key)?
        };
        original.insert(name, Value::Array(ordered));
    }
    Ok(())
}

/// The patch's elements must appear in the `$setElementOrder` list, in its order.
fn check_order(patched: &[Value], order: &[Value], key: Option<&str>) -> Result<(), ApiError> {
    if patched.is_empty() || order.is_empty() {
        return Ok(());
    }
    let kept: Vec<&Value> = patched
        .iter()
        .filter(|item| key.is_none() || !is_delete(item))
        .collect();
    let (mut at_patch, mut at_order) = (0, 0);
    while at_patch < kept.len() && at_order < order.len() {
        if kept[at_patch].get(DIRECTIVE).is_some() {
            at_patch += 1;
            continue;
        }
        if same_element(kept[at_patch], &order[at_order], key)? {
            at_patch += 1;
        }
        at_order += 1;
    }
    if at_patch < kept.len() {
        return Err(internal(format!(
            "The order in patch list:\n{}\n doesn't match $setElementOrder list:\n{}\n",
            Value::Array(patched.to_vec()),
            Value::Array(order.to_vec())
        )));
    }
    Ok(())
}

fn is_delete(item: &Value) -> bool {
    item.get(DIRECTIVE).and_then(Value::as_str) == Some("delete")
}

/// Whether two elements are the same element: equal scalars, or maps with equal merge keys.
fn same_element(left: &Value, right: &Value, key: Option<&str>) -> Result<bool, ApiError> {
    let Some(key) = key else {
        return Ok(left == right);
    };
    let left_key = left.get(key).ok_or_else(|| no_merge_key(left, key))?;
    let right_key = right.get(key).ok_or_else(|| no_merge_key(right, key))?;
    Ok(left_key == right_key)
}

/// Element kinds a merging list may hold: all of one JSON type, and no lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elements {
    Maps,
    Scalars,
}

fn element_kind(lists: &[&[Value]]) -> Result<Option<Elements>, ApiError> {
    let mut seen: Option<&'static str> = None;
    for item in lists.iter().flat_map(|list| list.iter()) {
        let kind = json_kind(item);
        if kind == "array" {
            return Err(ApiError::new(
                422,
                "Invalid",
                "the server rejected our request due to an error in our request",
            ));
        }
        match seen {
            None => seen = Some(kind),
            Some(previous) if previous != kind => {
                return Err(internal("list element types are not identical".into()));
            }
            Some(_) => {}
        }
    }
    Ok(seen.map(|kind| {
        if kind == "object" {
            Elements::Maps
        } else {
            Elements::Scalars
        }
    }))
}

fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    node: Node,
    lists: Lists,
    deletion: bool,
) -> Result<Vec<Value>, ApiError> {
    let key = match lists {
        Lists::Merge(key) => key,
        // A deletion list applies whatever the field's strategy.
        Lists::Replace if deletion => None,
        Lists::Replace => return Ok(patch),
    };
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let Some(elements) = element_kind(&[&original, &patch])? else {
        return Ok(original);
    };
    let (server_order, patch, merged) = match elements {
        Elements::Scalars => {
            if deletion {
                return Ok(original
                    .into_iter()
                    .filter(|item| !patch.contains(item))
                    .collect());
            }
            let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
            for item in original.iter().chain(patch.iter()) {
                if !merged.contains(item) {
                    merged.push(item.clone());
                }
            }
            (original, patch, merged)
        }
        Elements::Maps => {
            let Some(key) = key else {
                return Err(internal("cannot merge lists without merge key".to_string()));
            };
            let (original, patch) = special_elements(original, patch, key)?;
            let merged = merge_elements(original.clone(), &patch, key, node)?;
            (original, patch, merged)
        }
    };
    let (listed, server_only) = partition(merged, &patch, key)?;
    normalize_order(listed, server_only, &patch, &server_order, key)
}

/// Elements carrying `$patch`: `delete` removes the object's elements with that merge key,
/// `replace` makes the patch's other elements the whole list. Returns the object's list and the
/// patch's plain elements.
fn special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), ApiError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.get(DIRECTIVE) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let value = item.get(key).ok_or_else(|| no_merge_key(&item, key))?;
                original.retain(|existing| existing.get(key) != Some(value));
            }
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(internal(
                    "merging lists cannot yet be specified in the patch".into(),
                ));
            }
            _ => {
                return Err(internal(format!(
                    "unknown patch type: {directive} in map: {item}"
                )));
            }
        }
    }
    if replace {
        return Ok((plain, Vec::new()));
    }
    Ok((original, plain))
}

/// Merges each patch element into the object's element with the same merge key, or appends it.
fn merge_elements(
    mut original: Vec<Value>,
    patch: &[Value],
    key: &str,
    node: Node,
) -> Result<Vec<Value>, ApiError> {
    for item in patch {
        let Value::Object(item_map) = item else {
            return Err(internal(format!("value {item} is not a map")));
        };
        let value = item_map.get(key).ok_or_else(|| no_merge_key(item, key))?;
        let found = original
            .iter()
            .position(|existing| existing.get(key) == Some(value));
        match found {
            Some(index) => {
                let existing = match std::mem::take(&mut original[index]) {
                    Value::Object(map) => map,
                    _ => Map::new(),
                };
                original[index] = Value::Object(merge_map(existing, item_map.clone(), node)?);
            }
            None => original.push(item.clone()),
        }
    }
    Ok(original)
}

/// Splits `merged` into the elements `by` names (in `merged`'s order) and the others.
fn partition(
    merged: Vec<Value>,
    by: &[Value],
    key: Option<&str>,
) -> Result<(Vec<Value>, Vec<Value>), ApiError> {
    let mut listed = Vec::new();
    let mut others = Vec::new();
    for item in merged {
        let present = match key {
            None => by.contains(&item),
            Some(key) => {
                if !item.is_object() {
                    return Err(internal(format!(
                        "expected a map[string]interface {{}}, but received a {}",
                        json_kind(&item)
                    )));
                }
                let value = item.get(key).ok_or_else(|| no_merge_key(&item, key))?;
                by.iter().any(|candidate| candidate.get(key) == Some(value))
            }
        };
        if present {
            listed.push(item);
        } else {
            others.push(item);
        }
    }
    Ok((listed, others))
}

/// Where `item` sits in `order`: by value for scalars, by merge key for maps.
fn position(order: &[Value], item: &Value, key: Option<&str>) -> Option<usize> {
    match key {
        None => order.iter().position(|candidate| candidate == item),
        Some(key) => {
            let value = item.get(key);
            order
                .iter()
                .position(|candidate| candidate.get(key) == value)
        }
    }
}

/// Sorts the patch's elements by the patch order and the others by the object's order, then
/// interleaves them: an object element goes before a patch element when the object had it
/// first; a new element goes where the patch put it.
fn normalize_order(
    listed: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
) -> Result<Vec<Value>, ApiError> {
    let listed = sort_by_order(listed, patch_order, key)?;
    let server_only = sort_by_order(server_only, server_order, key)?;
    let mut merged = Vec::with_capacity(listed.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = listed.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (position(server_order, l, key), position(server_order, r, key)),
                (Some(li), Some(ri)) if li < ri
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        merged.extend(next);
    }
    Ok(merged)
}

/// Stable sort by position in `order`; `$patch: delete` elements go last. Maps must all carry
/// the merge key.
fn sort_by_order(
    items: Vec<Value>,
    order: &[Value],
    key: Option<&str>,
) -> Result<Vec<Value>, ApiError> {
    let (mut items, deleted): (Vec<Value>, Vec<Value>) = match key {
        Some(key) => {
            for item in items.iter().chain(order.iter()) {
                if item.get(key).is_none() {
                    return Err(no_merge_key(item, key));
                }
            }
            items.into_iter().partition(|item| !is_delete(item))
        }
        None => (items, Vec::new()),
    };
    items.sort_by_key(|item| position(order, item, key).unwrap_or(usize::MAX));
    items.extend(deleted);
    Ok(items)
}

/// Drops `null` map values, recursively (a patch's nulls delete; where there is nothing to
/// delete they are dropped).
fn discard_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(discard_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// A patch value taken as is: maps carrying `$patch` (and list elements that are such maps)
/// are dropped; `None` when the value itself is one.
fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) => {
            if map.contains_key(DIRECTIVE) {
                return None;
            }
            Some(Value::Object(
                map.into_iter()
                    .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                    .collect(),
            ))
        }
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE
        || key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

fn strip_directives(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !is_directive_key(key));
            map.values_mut().for_each(strip_directives);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

#[cfg(test)]
#[path = "strategic_tests.rs"]
mod tests;
