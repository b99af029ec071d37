//! Object metadata helpers: timestamps, generated names, name validation and the
//! core/v1 ⇄ events.k8s.io/v1 Event conversion.

use rand::Rng;
use serde_json::{Map, Value};

/// Now, as kube-apiserver renders `metav1.Time` (RFC 3339, whole seconds, UTC).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `generateName` plus five characters from kube's alphabet (no vowels, no look-alikes).
pub fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    // kube truncates the prefix so the result stays within 63 characters.
    let mut keep = prefix.len().min(58);
    while !prefix.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{suffix}", &prefix[..keep])
}

fn is_dns_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// kube's `IsDNS1123Subdomain`/`IsDNS1123Label` messages for an invalid name, empty when valid.
pub fn name_errors(name: &str, label_only: bool) -> Vec<String> {
    let mut errors = Vec::new();
    if label_only {
        if name.len() > 63 {
            errors.push("must be no more than 63 characters".to_string());
        }
        if !is_dns_label(name) {
            errors.push("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".to_string());
        }
    } else {
        if name.len() > 253 {
            errors.push("must be no more than 253 characters".to_string());
        }
        if !name.split('.').all(is_dns_label) {
            errors.push("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string());
        }
    }
    errors
}

fn is_qualified_part(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

/// kube's label checks: `(field, body)` for each invalid label key or value.
pub fn label_errors(object: &Value) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let Some(labels) = object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
    else {
        return errors;
    };
    for (key, value) in labels {
        let name = match key.rsplit_once('/') {
            Some((prefix, name)) => {
                if prefix.is_empty() || !name_errors(prefix, false).is_empty() {
                    errors.push(("metadata.labels".to_string(), format!("Invalid value: {key:?}: prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")));
                }
                name
            }
            None => key.as_str(),
        };
        if !is_qualified_part(name) {
            errors.push(("metadata.labels".to_string(), format!("Invalid value: {key:?}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")));
        }
        match value.as_str() {
            Some("") => {}
            Some(text) if is_qualified_part(text) => {}
            Some(text) if text.len() > 63 => errors.push(("metadata.labels".to_string(), format!("Invalid value: {text:?}: must be no more than 63 characters"))),
            other => errors.push(("metadata.labels".to_string(), format!("Invalid value: {}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')", other.map(|t| format!("{t:?}")).unwrap_or_else(|| value.to_string())))),
        }
    }
    errors
}

/// Field paths of an object's metadata as strings, absent as empty.
pub fn meta_str<'a>(object: &'a Value, field: &str) -> &'a str {
    object
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The `metadata` map of an object, created when missing.
pub fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = Value::Object(Map::new());
    }
    match object.get_mut("metadata") {
        Some(Value::Object(map)) => map,
        // Both statements above make `metadata` an object first.
        _ => unreachable!("metadata is an object by construction"),
    }
}

/// The finalizers of an object.
pub fn finalizers(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether deletion of an object has begun.
pub fn is_deleting(object: &Value) -> bool {
    object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// The owner UIDs an object names in `ownerReferences`.
pub fn owner_uids(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

const EVENT_FIELD_PAIRS: [(&str, &str); 8] = [
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("related", "related"),
];

fn rename_fields(object: &Value, api_version: &str, to_events_v1: bool) -> Value {
    let Value::Object(source) = object else {
        return object.clone();
    };
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::from(api_version));
    out.insert("kind".into(), Value::from("Event"));
    for (key, value) in source {
        if key == "apiVersion" || key == "kind" {
            continue;
        }
        let renamed = EVENT_FIELD_PAIRS
            .iter()
            .find_map(|(core, v1)| match to_events_v1 {
                true if key == core => Some(*v1),
                false if key == v1 => Some(*core),
                _ => None,
            })
            .unwrap_or(key.as_str());
        out.insert(renamed.to_string(), value.clone());
    }
    Value::Object(out)
}

/// A stored core/v1 Event as events.k8s.io/v1 shows it.
pub fn core_event_to_events_v1(object: &Value) -> Value {
    rename_fields(object, "events.k8s.io/v1", true)
}

/// An events.k8s.io/v1 Event in its stored core/v1 form.
pub fn events_v1_to_core_event(object: &Value) -> Value {
    rename_fields(object, "v1", false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_like_kube() {
        assert!(name_errors("summarizer", false).is_empty());
        assert!(name_errors("a.b-c", false).is_empty());
        assert_eq!(name_errors("Bad_Name", false).len(), 1);
        assert_eq!(name_errors("a.b", true).len(), 1);
        assert!(generate_name("web-").starts_with("web-"));
        let labels = serde_json::json!({"metadata": {"labels": {"app": "ok", "example.com/x": "", "bad key": "v", "k": "bad value"}}});
        assert_eq!(label_errors(&labels).len(), 2);
    }

    #[test]
    fn events_round_trip() {
        let core = serde_json::json!({"apiVersion": "v1", "kind": "Event", "message": "m", "involvedObject": {"name": "x"}});
        let v1 = core_event_to_events_v1(&core);
        assert_eq!(v1["note"], "m");
        assert_eq!(events_v1_to_core_event(&v1), core);
    }
}
