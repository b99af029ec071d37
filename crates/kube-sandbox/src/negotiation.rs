//! Output content negotiation for resource requests (the `Accept` header), and the views it
//! selects: the object itself, a `Table`, or metadata only (`PartialObjectMetadata[List]`).
//!
//! The rules are kube-apiserver's (`negotiation.NegotiateMediaTypeOptions`, the request scope's
//! `AllowsMediaTypeTransform` and `handlers/response.go`):
//!
//! - No (or an empty) `Accept` header means JSON, untransformed.
//! - Clauses are parsed as goautoneg parses them (`type/subtype;key=value;q=…`; values are not
//!   unquoted, a `q` that does not parse is `0`, clauses with `q=0` are still candidates) and
//!   ordered as goautoneg orders them: by `q`, and a concrete type or subtype ahead of a `*`
//!   (an insertion sort, which is Go's order for up to 12 clauses).
//! - The first clause, in that order, that one of the server's media types (`application/json`,
//!   `application/yaml`, `application/vnd.kubernetes.protobuf`, tried in that order; `*` matches
//!   as in goautoneg) can serve with the clause's parameters wins. Its `as`/`g`/`v` parameters ask
//!   for a conversion: `Table` (JSON or YAML only) or `PartialObjectMetadata` /
//!   `PartialObjectMetadataList` (any media type), in `meta.k8s.io/v1` or `meta.k8s.io/v1beta1`.
//!   Anything else (another kind, group or version, or `as=Table` without `g`/`v`) disqualifies
//!   the clause, and the next one is tried. Custom resources are served untransformed as JSON
//!   or YAML only (kube-apiserver's `StandardSerializers`), so a plain protobuf clause is
//!   skipped for them. `stream=` other than `watch` (or on YAML, which cannot stream) and `sv=`
//!   other than `v1` disqualify a clause too; other parameters are ignored.
//! - No clause qualifying is `406 NotAcceptable`: `only the following media types are accepted:
//!   application/json, application/yaml, application/vnd.kubernetes.protobuf`. A watch that
//!   lands on YAML is `406` too, listing the streaming media types.
//! - A conversion that does not fit the response is decided after the verb ran, as in
//!   kube-apiserver: `PartialObjectMetadata` of a list, or `PartialObjectMetadataList` of a single
//!   object, is `406` naming the Go type kube-apiserver would name (`*core.SecretList`,
//!   `*unstructured.Unstructured`). A `Status` (a delete that removed the object) is never
//!   converted. A watch cannot convert its events to `PartialObjectMetadataList`; kube-apiserver
//!   logs that and sends the events unconverted, and so does the sandbox.
//!
//! The sandbox encodes JSON only: a request negotiated to YAML or protobuf is answered with the
//! same view in JSON (`Content-Type: application/json`, which clients decode by).

use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::store::Served;

/// A media type the server answers in (as kube-apiserver lists them, in its order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/json`.
    Json,
    /// `application/yaml` (answered as JSON by the sandbox).
    Yaml,
    /// `application/vnd.kubernetes.protobuf` (answered as JSON by the sandbox).
    Protobuf,
}

impl MediaType {
    const ALL: [MediaType; 3] = [MediaType::Json, MediaType::Yaml, MediaType::Protobuf];

    fn parts(self) -> (&'static str, &'static str) {
        match self {
            MediaType::Json => ("application", "json"),
            MediaType::Yaml => ("application", "yaml"),
            MediaType::Protobuf => ("application", "vnd.kubernetes.protobuf"),
        }
    }

    fn streams(self) -> bool {
        self != MediaType::Yaml
    }
}

/// What a request asked its response to be converted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// The object or list as the resource serves it.
    Full,
    /// A `Table` in `meta.k8s.io/<version>`.
    Table {
        /// `v1` or `v1beta1`.
        version: &'static str,
    },
    /// `PartialObjectMetadata` in `meta.k8s.io/<version>`.
    Metadata {
        /// `v1` or `v1beta1`.
        version: &'static str,
    },
    /// `PartialObjectMetadataList` in `meta.k8s.io/<version>`.
    MetadataList {
        /// `v1` or `v1beta1`.
        version: &'static str,
    },
}

/// The outcome of negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The media type of the winning clause.
    pub media_type: MediaType,
    /// The conversion it asked for.
    pub view: View,
}

/// The media types kube-apiserver lists in a `406`.
const MEDIA_TYPES: [&str; 3] = [
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

/// The streaming media types kube-apiserver lists in a watch's `406`.
const STREAM_MEDIA_TYPES: [&str; 2] = [
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
];

fn not_acceptable(accepted: &[&str]) -> ApiError {
    ApiError::new(
        406,
        "NotAcceptable",
        format!(
            "only the following media types are accepted: {}",
            accepted.join(", ")
        ),
    )
}

/// One clause of an `Accept` header.
#[derive(Debug, Clone, PartialEq)]
struct Clause<'a> {
    type_: &'a str,
    subtype: &'a str,
    q: f64,
    params: Vec<(&'a str, &'a str)>,
}

/// goautoneg's `Less`: higher `q` first, then a concrete type, then a concrete subtype.
fn precedes(a: &Clause<'_>, b: &Clause<'_>) -> bool {
    a.q > b.q || (a.type_ != "*" && b.type_ == "*") || (a.subtype != "*" && b.subtype == "*")
}

/// Parses an `Accept` header into clauses in the order goautoneg's `ParseAccept` returns them.
fn parse_accept(header: &str) -> Vec<Clause<'_>> {
    let mut clauses = Vec::new();
    for part in header.split(',') {
        let part = part.trim_matches(' ');
        let mut pieces = part.split(';');
        let media_range = pieces.next().unwrap_or_default();
        let mut halves = media_range.split('/');
        let type_ = halves.next().unwrap_or_default().trim_matches(' ');
        let subtype = match (halves.next(), halves.next()) {
            (None, _) if type_ == "*" => "*",
            (Some(subtype), None) => subtype.trim_matches(' '),
            _ => continue,
        };
        let mut clause = Clause {
            type_,
            subtype,
            q: 1.0,
            params: Vec::new(),
        };
        for param in pieces {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let key = key.trim_matches(' ');
            if key == "q" {
                // Go parses the raw value (untrimmed); a failure reads as 0.
                clause.q = value.parse::<f32>().map_or(0.0, f64::from);
            } else {
                clause.params.push((key, value.trim_matches(' ')));
            }
        }
        clauses.push(clause);
    }
    for index in 1..clauses.len() {
        let mut at = index;
        while at > 0 && precedes(&clauses[at], &clauses[at - 1]) {
            clauses.swap(at, at - 1);
            at -= 1;
        }
    }
    clauses
}

fn matches(clause: &Clause<'_>, media_type: MediaType) -> bool {
    let (type_, subtype) = media_type.parts();
    (clause.type_ == type_ && (clause.subtype == subtype || clause.subtype == "*"))
        || (clause.type_ == "*" && clause.subtype == "*")
}

/// The view a clause asks for with this media type, or `None` when the server cannot serve it
/// (kube-apiserver's `acceptMediaTypeOptions` with the request scope's restrictions).
fn clause_view(clause: &Clause<'_>, media_type: MediaType, custom: bool) -> Option<View> {
    // Later duplicates win, as in goautoneg's parameter map.
    let mut convert: Option<(&str, &str, &str)> = None;
    for &(key, value) in &clause.params {
        match key {
            "as" => convert.get_or_insert(("", "", "")).0 = value,
            "g" => convert.get_or_insert(("", "", "")).1 = value,
            "v" => convert.get_or_insert(("", "", "")).2 = value,
            "stream" if !value.is_empty() && (!media_type.streams() || value != "watch") => {
                return None;
            }
            "sv" if !value.is_empty() && value != "v1" => return None,
            _ => {}
        }
    }
    let Some((kind, group, version)) = convert else {
        let standard = matches!(media_type, MediaType::Json | MediaType::Yaml);
        return (!custom || standard).then_some(View::Full);
    };
    let version = match (group, version) {
        ("meta.k8s.io", "v1") => "v1",
        ("meta.k8s.io", "v1beta1") => "v1beta1",
        _ => return None,
    };
    match kind {
        "Table" if matches!(media_type, MediaType::Json | MediaType::Yaml) => {
            Some(View::Table { version })
        }
        "PartialObjectMetadata" => Some(View::Metadata { version }),
        "PartialObjectMetadataList" => Some(View::MetadataList { version }),
        _ => None,
    }
}

/// Negotiates the response of a get, list or write: the first acceptable clause wins, or `406`.
/// `custom` is whether the resource is a custom resource.
pub fn negotiate(accept: Option<&str>, custom: bool) -> Result<Negotiated, ApiError> {
    let header = accept.unwrap_or_default();
    if header.is_empty() {
        return Ok(Negotiated {
            media_type: MediaType::Json,
            view: View::Full,
        });
    }
    for clause in parse_accept(header) {
        for media_type in MediaType::ALL {
            if !matches(&clause, media_type) {
                continue;
            }
            if let Some(view) = clause_view(&clause, media_type, custom) {
                return Ok(Negotiated { media_type, view });
            }
        }
    }
    Err(not_acceptable(&MEDIA_TYPES))
}

/// Negotiates a watch: as [`negotiate`], and the winner must be able to stream.
pub fn negotiate_watch(accept: Option<&str>, custom: bool) -> Result<Negotiated, ApiError> {
    let negotiated = negotiate(accept, custom)?;
    if !negotiated.media_type.streams() {
        return Err(not_acceptable(&STREAM_MEDIA_TYPES));
    }
    Ok(negotiated)
}

/// The Go type kube-apiserver names in a `406` about an object (or list) of this resource: the
/// internal type its storage returns, or `unstructured` for custom resources.
fn go_type(served: &Served, list: bool) -> String {
    let suffix = if list { "List" } else { "" };
    if served.is_custom() {
        return format!("*unstructured.Unstructured{suffix}");
    }
    let package = if served.rt.group.is_empty() || served.events_v1 {
        "core"
    } else {
        served.rt.group.split('.').next().unwrap_or_default()
    };
    format!("*{package}.{}{suffix}", served.rt.kind)
}

/// `406` for `PartialObjectMetadata` asked of a list.
pub fn list_not_convertible(served: &Served) -> ApiError {
    ApiError::new(
        406,
        "NotAcceptable",
        format!(
            "you requested PartialObjectMetadata, but the requested object is a list ({})",
            go_type(served, true)
        ),
    )
}

/// `406` for `PartialObjectMetadataList` asked of a single object; `scale` for a `Scale`.
pub fn object_not_convertible(served: &Served, scale: bool) -> ApiError {
    let type_name = if scale {
        "*autoscaling.Scale".to_string()
    } else {
        go_type(served, false)
    };
    ApiError::new(
        406,
        "NotAcceptable",
        format!(
            "you requested PartialObjectMetadataList, but the requested object is not a list ({type_name})"
        ),
    )
}

/// An object's `PartialObjectMetadata`: its whole `metadata`, nothing else.
pub fn partial_object_metadata(version: &str, object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A `PartialObjectMetadataList` of objects with the list's `metadata`. Go encodes an empty
/// list's nil `items` as `null`, and kube-apiserver answers so.
pub fn partial_object_metadata_list<'a>(
    version: &str,
    objects: impl IntoIterator<Item = &'a Value>,
    list_metadata: Value,
) -> Value {
    let items: Vec<Value> = objects
        .into_iter()
        .map(|object| partial_object_metadata(version, object))
        .collect();
    let mut list = Map::new();
    list.insert("kind".into(), json!("PartialObjectMetadataList"));
    list.insert("apiVersion".into(), json!(format!("meta.k8s.io/{version}")));
    list.insert("metadata".into(), list_metadata);
    list.insert(
        "items".into(),
        if items.is_empty() {
            Value::Null
        } else {
            Value::Array(items)
        },
    );
    Value::Object(list)
}

/// Moves a `Table` (and the `PartialObjectMetadata` of its rows) to `meta.k8s.io/<version>`.
pub fn table_in_version(mut table: Value, version: &str) -> Value {
    let api_version = json!(format!("meta.k8s.io/{version}"));
    table["apiVersion"] = api_version.clone();
    if let Some(rows) = table.get_mut("rows").and_then(Value::as_array_mut) {
        for row in rows {
            if let Some(object) = row.get_mut("object")
                && object.get("kind").and_then(Value::as_str) == Some("PartialObjectMetadata")
            {
                object["apiVersion"] = api_version.clone();
            }
        }
    }
    table
}

#[cfg(test)]
#[path = "negotiation_tests.rs"]
mod tests;
