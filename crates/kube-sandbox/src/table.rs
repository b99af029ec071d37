//! `Table` (meta.k8s.io/v1) responses for `kubectl get`, built from printer columns. Whether a
//! request asks for one is content negotiation's call (`negotiation`).
//!
//! Custom resources get `Name` followed by their `additionalPrinterColumns`, each evaluated as a
//! JSONPath against the object; built-in kinds get the columns kube-apiserver's own printers
//! show. As in kube-apiserver, `date` cells are rendered on the server as a short age (`5m`,
//! `3d4h`), so kubectl prints them verbatim.

use std::sync::OnceLock;

use jsonpath_rust::parser::model::JpQuery;
use jsonpath_rust::parser::parse_json_path;
use jsonpath_rust::query::js_path_process;
use serde_json::{Map, Value, json};

use super::registry::{PrinterColumn, ResourceType};

/// Renders objects (one for a get, many for a list) as a `Table`. `list_metadata` is the list's
/// `metadata` (resourceVersion, continue) or `null` for a single object; `include_object` is the
/// `includeObject` query parameter (`None`, `Metadata` (kubectl's default) or `Object`).
pub fn to_table(
    resource_type: &ResourceType,
    objects: &[Value],
    list_metadata: Value,
    include_object: &str,
) -> Value {
    let now = jiff::Timestamp::now();
    let printer = Printer::for_type(resource_type);
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(printer.cells(object, now)));
            if let Some(embedded) = row_object(object, include_object) {
                row.insert("object".into(), embedded);
            }
            Value::Object(row)
        })
        .collect();
    let metadata = match list_metadata {
        Value::Object(fields) => Value::Object(fields),
        _ => {
            let resource_version = objects
                .first()
                .and_then(|o| o.pointer("/metadata/resourceVersion"))
                .cloned();
            match resource_version {
                Some(version) => json!({"resourceVersion": version}),
                None => json!({}),
            }
        }
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": printer.column_definitions(),
        "rows": rows,
    })
}

fn row_object(object: &Value, include_object: &str) -> Option<Value> {
    match include_object {
        "None" => None,
        "Object" => Some(object.clone()),
        _ => Some(json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
        })),
    }
}

/// One column a printer shows.
struct Column {
    name: String,
    type_: String,
    format: Option<String>,
    description: String,
    priority: i32,
    cell: Cell,
}

/// How a column's cell is computed from an object.
enum Cell {
    Name,
    /// A printer column's JSONPath (`None` when it does not parse: the cell stays empty).
    Path(Option<JpQuery>),
    /// Creation time as RFC 3339, as kube's default table shows it.
    CreatedAt,
    /// A computed cell of a built-in kind.
    Builtin(fn(&Value, jiff::Timestamp) -> Value),
}

struct Printer {
    columns: Vec<Column>,
}

impl Printer {
    fn for_type(resource_type: &ResourceType) -> Self {
        let columns = if resource_type.crd_name.is_some() {
            let mut columns = vec![name_column()];
            columns.extend(custom_columns(&resource_type.printer_columns));
            columns
        } else {
            builtin_columns(&resource_type.group, &resource_type.kind)
        };
        Self { columns }
    }

    fn column_definitions(&self) -> Vec<Value> {
        self.columns
            .iter()
            .map(|column| {
                json!({
                    "name": column.name,
                    "type": column.type_,
                    "format": column.format.clone().unwrap_or_default(),
                    "description": column.description,
                    "priority": column.priority,
                })
            })
            .collect()
    }

    fn cells(&self, object: &Value, now: jiff::Timestamp) -> Vec<Value> {
        self.columns
            .iter()
            .map(|column| match &column.cell {
                Cell::Name => object
                    .pointer("/metadata/name")
                    .cloned()
                    .unwrap_or_else(|| "".into()),
                Cell::Path(Some(query)) => path_cell(query, &column.type_, object, now),
                Cell::Path(None) => Value::Null,
                Cell::CreatedAt => created_at(object),
                Cell::Builtin(compute) => compute(object, now),
            })
            .collect()
    }
}

fn name_column() -> Column {
    Column {
        name: "Name".into(),
        type_: "string".into(),
        format: Some("name".into()),
        description: object_meta_description("name"),
        priority: 0,
        cell: Cell::Name,
    }
}

fn custom_columns(printer_columns: &[PrinterColumn]) -> Vec<Column> {
    let age = PrinterColumn {
        name: "Age".into(),
        type_: "date".into(),
        format: None,
        description: None,
        priority: 0,
        json_path: ".metadata.creationTimestamp".into(),
    };
    let printer_columns = if printer_columns.is_empty() {
        std::slice::from_ref(&age)
    } else {
        printer_columns
    };
    printer_columns
        .iter()
        .map(|column| Column {
            name: column.name.clone(),
            type_: column.type_.clone(),
            format: column.format.clone(),
            description: column.description.clone().unwrap_or_else(|| {
                "Custom resource definition column (in JSONPath format): ".to_owned()
                    + &column.json_path
            }),
            priority: column.priority,
            cell: Cell::Path(parse_json_path(&to_rfc9535(&column.json_path)).ok()),
        })
        .collect()
}

/// Rewrites a Kubernetes JSONPath (`.status.conditions[?(@.type=="Ready")].status`, optionally in
/// braces) as RFC 9535 (`$.status.conditions[?(@.type=="Ready")].status`): member names that are
/// not plain identifiers become bracketed names; bracket selectors carry over as written.
pub(crate) fn to_rfc9535(path: &str) -> String {
    let path = path.trim();
    let path = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path)
        .trim();
    let path = path.strip_prefix('$').unwrap_or(path);
    let chars: Vec<char> = path.chars().collect();
    let mut out = String::from("$");
    let mut index = 0;
    while index < chars.len() {
        match chars[index] {
            '[' => {
                let end = closing_bracket(&chars, index);
                out.extend(&chars[index..end]);
                index = end;
            }
            '.' if chars.get(index + 1) == Some(&'.') => {
                out.push_str("..");
                index += 2;
                let (name, end) = member_name(&chars, index);
                push_member(&mut out, &name, true);
                index = end;
            }
            '.' => {
                let (name, end) = member_name(&chars, index + 1);
                push_member(&mut out, &name, false);
                index = end;
            }
            _ => {
                let (name, end) = member_name(&chars, index);
                push_member(&mut out, &name, false);
                index = end;
            }
        }
    }
    out
}

/// Index just past the `]` closing the bracket opened at `start` (quotes and nesting aware).
fn closing_bracket(chars: &[char], start: usize) -> usize {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    let mut index = start;
    while index < chars.len() {
        let c = chars[index];
        match quote {
            Some(_) if c == '\\' => index += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        return index + 1;
                    }
                }
                _ => {}
            },
        }
        index += 1;
    }
    chars.len()
}

/// A member name starting at `start`, up to the next unescaped `.` or `[`; `\.` is a literal dot.
fn member_name(chars: &[char], start: usize) -> (String, usize) {
    let mut name = String::new();
    let mut index = start;
    while index < chars.len() {
        match chars[index] {
            '\\' if chars.get(index + 1) == Some(&'.') => {
                name.push('.');
                index += 2;
            }
            '.' | '[' => break,
            c => {
                name.push(c);
                index += 1;
            }
        }
    }
    (name, index)
}

fn push_member(out: &mut String, name: &str, after_descendant: bool) {
    if name.is_empty() {
        return;
    }
    if name == "*" {
        out.push_str(if after_descendant { "*" } else { ".*" });
        return;
    }
    let shorthand = name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || !c.is_ascii())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || !c.is_ascii());
    if shorthand {
        if !after_descendant {
            out.push('.');
        }
        out.push_str(name);
    } else {
        let escaped = name.replace('\\', "\\\\").replace('\'', "\\'");
        out.push_str(&format!("['{escaped}']"));
    }
}

/// A printer column cell, typed as kube-apiserver types it; `null` when the path finds nothing.
fn path_cell(query: &JpQuery, type_: &str, object: &Value, now: jiff::Timestamp) -> Value {
    let Ok(results) = js_path_process(query, object) else {
        return Value::Null;
    };
    let Some(value) = results.into_iter().next().map(|r| r.val()) else {
        return Value::Null;
    };
    match type_ {
        "integer" => match value {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .map_or(Value::Null, Value::from),
            _ => Value::Null,
        },
        "number" => match value {
            Value::Number(n) => n.as_f64().map_or(Value::Null, Value::from),
            _ => Value::Null,
        },
        "boolean" => match value {
            Value::Bool(b) => Value::Bool(*b),
            _ => Value::Null,
        },
        "date" => match value {
            Value::String(s) => Value::String(age_of(s, now)),
            _ => Value::Null,
        },
        _ => match value {
            Value::Null => Value::Null,
            Value::String(s) => Value::String(s.clone()),
            Value::Array(_) | Value::Object(_) => Value::String(value.to_string()),
            other => Value::String(other.to_string()),
        },
    }
}

/// A timestamp's age as kube prints it, `<invalid>` when it does not parse.
fn age_of(timestamp: &str, now: jiff::Timestamp) -> String {
    match timestamp.parse::<jiff::Timestamp>() {
        Ok(then) => human_duration(now.as_second() - then.as_second()),
        Err(_) => "<invalid>".into(),
    }
}

/// Age of an optional timestamp field, `<unknown>` when absent (kube's zero time).
fn age_at(object: &Value, pointer: &str, now: jiff::Timestamp) -> Option<String> {
    match object.pointer(pointer) {
        Some(Value::String(s)) if !s.is_empty() => Some(age_of(s, now)),
        _ => None,
    }
}

fn creation_age(object: &Value, now: jiff::Timestamp) -> Value {
    Value::String(
        age_at(object, "/metadata/creationTimestamp", now).unwrap_or_else(|| "<unknown>".into()),
    )
}

/// Kubernetes' short human duration (`45s`, `3m20s`, `2h5m`, `3d4h`, `2y30d`), two significant
/// units while they matter.
pub(crate) fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let rest = seconds % 60;
        return if rest == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{rest}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let rest = minutes % 60;
        return if rest == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{rest}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        let rest = hours % 24;
        return if rest == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{rest}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        let rest = days % 365;
        return if rest == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{rest}d")
        };
    }
    format!("{years}y")
}

fn created_at(object: &Value) -> Value {
    match object.pointer("/metadata/creationTimestamp") {
        Some(Value::String(s)) => match s.parse::<jiff::Timestamp>() {
            Ok(t) => Value::String(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
            Err(_) => Value::String(s.clone()),
        },
        _ => Value::Null,
    }
}

/// The description of an `ObjectMeta` field, as the OpenAPI schema of k8s-openapi carries it.
fn object_meta_description(field: &str) -> String {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    let schema = SCHEMA.get_or_init(|| {
        serde_json::to_value(schemars::schema_for!(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta
        ))
        .unwrap_or(Value::Null)
    });
    schema
        .pointer(&format!("/properties/{field}/description"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn builtin_column(
    name: &str,
    type_: &str,
    priority: i32,
    description: &str,
    compute: fn(&Value, jiff::Timestamp) -> Value,
) -> Column {
    Column {
        name: name.into(),
        type_: type_.into(),
        format: None,
        description: description.into(),
        priority,
        cell: Cell::Builtin(compute),
    }
}

fn age_column() -> Column {
    builtin_column(
        "Age",
        "string",
        0,
        &object_meta_description("creationTimestamp"),
        creation_age,
    )
}

fn string_at(object: &Value, pointer: &str) -> Value {
    match object.pointer(pointer) {
        Some(Value::String(s)) => Value::String(s.clone()),
        _ => Value::String(String::new()),
    }
}

fn entry_count(object: &Value, pointer: &str) -> usize {
    object
        .pointer(pointer)
        .and_then(Value::as_object)
        .map_or(0, Map::len)
}

/// The columns kube-apiserver's printers show for a built-in kind.
fn builtin_columns(group: &str, kind: &str) -> Vec<Column> {
    if kind == "Event" && (group.is_empty() || group == "events.k8s.io") {
        return event_columns(group.is_empty());
    }
    let mut columns = vec![name_column()];
    columns.extend(match (group, kind) {
        ("", "Namespace") => vec![
            builtin_column(
                "Status",
                "string",
                0,
                "The status of the namespace",
                |o, _| string_at(o, "/status/phase"),
            ),
            age_column(),
        ],
        ("", "Secret") => vec![
            builtin_column("Type", "string", 0, "The type of the secret", |o, _| {
                string_at(o, "/type")
            }),
            builtin_column(
                "Data",
                "string",
                0,
                "The number of entries in the secret's data",
                |o, _| Value::from(entry_count(o, "/data")),
            ),
            age_column(),
        ],
        ("", "ConfigMap") => vec![
            builtin_column(
                "Data",
                "string",
                0,
                "The number of entries in the config map's data and binaryData",
                |o, _| Value::from(entry_count(o, "/data") + entry_count(o, "/binaryData")),
            ),
            age_column(),
        ],
        ("coordination.k8s.io", "Lease") => vec![
            builtin_column(
                "Holder",
                "string",
                0,
                "The identity of the current lease holder",
                |o, _| string_at(o, "/spec/holderIdentity"),
            ),
            age_column(),
        ],
        _ => vec![Column {
            name: "Created At".into(),
            type_: "date".into(),
            format: None,
            description: object_meta_description("creationTimestamp"),
            priority: 0,
            cell: Cell::CreatedAt,
        }],
    });
    columns
}

/// Event columns, in kube-apiserver's order: events lead with when they were seen and put their
/// (generated) name last, shown only with `-o wide`. The two Event APIs name the same facts
/// differently; `core` selects `v1` field names over `events.k8s.io/v1` ones.
fn event_columns(core: bool) -> Vec<Column> {
    let mut columns = if core {
        vec![
            builtin_column("Last Seen", "string", 0, LAST_SEEN, |o, now| {
                event_age(
                    o,
                    now,
                    &["/series/lastObservedTime", "/lastTimestamp", "/eventTime"],
                )
            }),
            builtin_column("Type", "string", 0, EVENT_TYPE, |o, _| {
                string_at(o, "/type")
            }),
            builtin_column("Reason", "string", 0, EVENT_REASON, |o, _| {
                string_at(o, "/reason")
            }),
            builtin_column("Object", "string", 0, EVENT_OBJECT, |o, _| {
                involved_object(o, "/involvedObject")
            }),
            builtin_column("Subobject", "string", 1, EVENT_SUBOBJECT, |o, _| {
                string_at(o, "/involvedObject/fieldPath")
            }),
            builtin_column("Source", "string", 1, EVENT_SOURCE, |o, _| {
                event_source(o, "/source", "/reportingComponent", "/reportingInstance")
            }),
            builtin_column("Message", "string", 0, EVENT_MESSAGE, |o, _| {
                trimmed(o, "/message")
            }),
            builtin_column("First Seen", "string", 1, FIRST_SEEN, |o, now| {
                event_age(o, now, &["/firstTimestamp", "/eventTime"])
            }),
            builtin_column("Count", "string", 1, EVENT_COUNT, |o, _| {
                event_count(o, &["/series/count", "/count"])
            }),
        ]
    } else {
        vec![
            builtin_column("Last Seen", "string", 0, LAST_SEEN, |o, now| {
                event_age(
                    o,
                    now,
                    &[
                        "/series/lastObservedTime",
                        "/deprecatedLastTimestamp",
                        "/eventTime",
                    ],
                )
            }),
            builtin_column("Type", "string", 0, EVENT_TYPE, |o, _| {
                string_at(o, "/type")
            }),
            builtin_column("Reason", "string", 0, EVENT_REASON, |o, _| {
                string_at(o, "/reason")
            }),
            builtin_column("Object", "string", 0, EVENT_OBJECT, |o, _| {
                involved_object(o, "/regarding")
            }),
            builtin_column("Subobject", "string", 1, EVENT_SUBOBJECT, |o, _| {
                string_at(o, "/regarding/fieldPath")
            }),
            builtin_column("Source", "string", 1, EVENT_SOURCE, |o, _| {
                event_source(
                    o,
                    "/deprecatedSource",
                    "/reportingController",
                    "/reportingInstance",
                )
            }),
            builtin_column("Message", "string", 0, EVENT_MESSAGE, |o, _| {
                trimmed(o, "/note")
            }),
            builtin_column("First Seen", "string", 1, FIRST_SEEN, |o, now| {
                event_age(o, now, &["/deprecatedFirstTimestamp", "/eventTime"])
            }),
            builtin_column("Count", "string", 1, EVENT_COUNT, |o, _| {
                event_count(o, &["/series/count", "/deprecatedCount"])
            }),
        ]
    };
    let mut name = name_column();
    name.priority = 1;
    columns.push(name);
    columns
}

const LAST_SEEN: &str = "When the event was last observed";
const FIRST_SEEN: &str = "When the event was first observed";
const EVENT_TYPE: &str = "Type of the event (Normal or Warning)";
const EVENT_REASON: &str = "Short machine-readable reason the event was emitted for";
const EVENT_OBJECT: &str = "The object the event is about";
const EVENT_SUBOBJECT: &str = "The part of the object the event is about";
const EVENT_SOURCE: &str = "The component that reported the event";
const EVENT_MESSAGE: &str = "Human-readable description of the event";
const EVENT_COUNT: &str = "How many times the event occurred";

fn event_age(object: &Value, now: jiff::Timestamp, pointers: &[&str]) -> Value {
    let age = pointers
        .iter()
        .find_map(|pointer| age_at(object, pointer, now));
    Value::String(age.unwrap_or_else(|| "<unknown>".into()))
}

fn event_count(object: &Value, pointers: &[&str]) -> Value {
    pointers
        .iter()
        .find_map(|pointer| object.pointer(pointer).and_then(Value::as_i64))
        .map_or(Value::from(0), Value::from)
}

/// `component, host` of the event's source, falling back to the reporting controller.
fn event_source(object: &Value, source: &str, controller: &str, instance: &str) -> Value {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (component, host) = match text(&format!("{source}/component")) {
        component if !component.is_empty() => (component, text(&format!("{source}/host"))),
        _ => (text(controller), text(instance)),
    };
    Value::String(if host.is_empty() {
        component
    } else {
        format!("{component}, {host}")
    })
}

fn involved_object(object: &Value, pointer: &str) -> Value {
    let reference = object.pointer(pointer);
    let field = |name: &str| {
        reference
            .and_then(|r| r.get(name))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    Value::String(format!(
        "{}/{}",
        field("kind").to_lowercase(),
        field("name")
    ))
}

fn trimmed(object: &Value, pointer: &str) -> Value {
    Value::String(
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    )
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
