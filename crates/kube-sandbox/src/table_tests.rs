//! Unit tests of Table rendering: printer columns of the project's CRDs and built-in columns.

use serde_json::{Value, json};

use super::super::discovery::fixtures::{builtin_types, crd_types};
use super::super::registry::ResourceType;
use super::*;

fn crd_type(kind: &str) -> ResourceType {
    crd_types()
        .into_iter()
        .find(|t| t.kind == kind)
        .expect("CRD type exists")
}

fn builtin_type(group: &str, kind: &str) -> ResourceType {
    builtin_types()
        .into_iter()
        .find(|t| t.group == group && t.kind == kind)
        .expect("built-in type exists")
}

/// A timestamp whole minutes back; ages of 10 minutes and more print without seconds, so a
/// second ticking by during the test does not change them.
fn minutes_ago(minutes: i64) -> String {
    let then = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(minutes);
    then.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn ready_model(name: &str) -> Value {
    json!({
        "apiVersion": "portico.dev/v1alpha1",
        "kind": "AIModel",
        "metadata": {
            "name": name,
            "namespace": "team-a",
            "resourceVersion": "42",
            "creationTimestamp": minutes_ago(30),
        },
        "spec": {"provider": "openai", "model": "gpt-4o-mini"},
        "status": {
            "phase": "Ready",
            "conditions": [
                {"type": "Synced", "status": "False"},
                {"type": "Ready", "status": "True"},
            ],
        },
    })
}

fn column_names(table: &Value) -> Vec<String> {
    table["columnDefinitions"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_owned())
        .collect()
}

#[test]
fn custom_resource_rows_follow_printer_columns() {
    let table = to_table(
        &crd_type("AIModel"),
        &[ready_model("summarizer")],
        json!({"resourceVersion": "50"}),
        "Metadata",
    );
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(table["metadata"]["resourceVersion"], "50");
    assert_eq!(
        column_names(&table),
        ["Name", "Provider", "Model", "Phase", "Ready", "Age"]
    );
    assert_eq!(table["columnDefinitions"][0]["format"], "name");
    assert_eq!(
        table["rows"][0]["cells"],
        json!([
            "summarizer",
            "openai",
            "gpt-4o-mini",
            "Ready",
            "True",
            "30m"
        ])
    );
    let embedded = &table["rows"][0]["object"];
    assert_eq!(embedded["kind"], "PartialObjectMetadata");
    assert_eq!(embedded["metadata"]["namespace"], "team-a");
    assert!(embedded.get("spec").is_none());
}

#[test]
fn missing_fields_leave_empty_cells() {
    let mut model = ready_model("fresh");
    model.as_object_mut().expect("object").remove("status");
    let table = to_table(&crd_type("AIModel"), &[model], Value::Null, "None");
    let cells = &table["rows"][0]["cells"];
    assert_eq!(cells[3], Value::Null);
    assert_eq!(cells[4], Value::Null);
    assert!(table["rows"][0].get("object").is_none());
    assert_eq!(
        table["metadata"]["resourceVersion"], "42",
        "single get carries its version"
    );
}

#[test]
fn include_object_embeds_the_whole_object() {
    let table = to_table(
        &crd_type("AIModel"),
        &[ready_model("m")],
        Value::Null,
        "Object",
    );
    assert_eq!(table["rows"][0]["object"]["spec"]["model"], "gpt-4o-mini");
}

#[test]
fn typed_columns_render_typed_cells() {
    let mut resource_type = crd_type("AIModel");
    resource_type.printer_columns = vec![
        PrinterColumn {
            name: "RPM".into(),
            type_: "integer".into(),
            format: None,
            description: None,
            priority: 1,
            json_path: ".spec.limits.requestsPerMinute".into(),
        },
        PrinterColumn {
            name: "Temp".into(),
            type_: "number".into(),
            format: None,
            description: None,
            priority: 0,
            json_path: ".spec.parameters.temperature".into(),
        },
        PrinterColumn {
            name: "Labels".into(),
            type_: "string".into(),
            format: None,
            description: None,
            priority: 0,
            json_path: ".metadata.labels".into(),
        },
        PrinterColumn {
            name: "Team".into(),
            type_: "string".into(),
            format: None,
            description: None,
            priority: 0,
            json_path: ".metadata.labels.portico\\.dev/team".into(),
        },
    ];
    let mut model = ready_model("m");
    model["spec"]["limits"] = json!({"requestsPerMinute": 600});
    model["spec"]["parameters"] = json!({"temperature": 0.5});
    model["metadata"]["labels"] = json!({"portico.dev/team": "search"});
    let table = to_table(&resource_type, &[model], Value::Null, "None");
    assert_eq!(table["columnDefinitions"][1]["priority"], 1);
    assert_eq!(
        table["rows"][0]["cells"],
        json!(["m", 600, 0.5, "{\"portico.dev/team\":\"search\"}", "search"])
    );
}

#[test]
fn kube_json_paths_translate_to_rfc9535() {
    assert_eq!(
        to_rfc9535(".status.conditions[?(@.type==\"Ready\")].status"),
        "$.status.conditions[?(@.type==\"Ready\")].status"
    );
    assert_eq!(to_rfc9535("{.spec.items[0].name}"), "$.spec.items[0].name");
    assert_eq!(
        to_rfc9535(".metadata.annotations.example\\.com/x-y"),
        "$.metadata.annotations['example.com/x-y']"
    );
    assert_eq!(to_rfc9535("..name"), "$..name");
    assert_eq!(to_rfc9535(".spec.*"), "$.spec.*");
}

#[test]
fn ages_read_like_kubectl() {
    assert_eq!(human_duration(-5), "<invalid>");
    assert_eq!(human_duration(-1), "0s");
    assert_eq!(human_duration(59), "59s");
    assert_eq!(human_duration(119), "119s");
    assert_eq!(human_duration(200), "3m20s");
    assert_eq!(human_duration(600), "10m");
    assert_eq!(human_duration(3 * 3600 + 120), "3h2m");
    assert_eq!(human_duration(30 * 3600), "30h");
    assert_eq!(human_duration(3 * 86400 + 4 * 3600), "3d4h");
    assert_eq!(human_duration(30 * 86400), "30d");
    assert_eq!(human_duration(3 * 365 * 86400 + 5 * 86400), "3y5d");
    assert_eq!(human_duration(10 * 365 * 86400), "10y");
}

#[test]
fn secrets_show_type_and_data_count() {
    let secret = json!({
        "metadata": {"name": "conn", "creationTimestamp": minutes_ago(90)},
        "type": "Opaque",
        "data": {"endpoint": "aA==", "apiKey": "aA=="},
    });
    let table = to_table(
        &builtin_type("", "Secret"),
        &[secret],
        Value::Null,
        "Metadata",
    );
    assert_eq!(column_names(&table), ["Name", "Type", "Data", "Age"]);
    assert_eq!(
        table["rows"][0]["cells"],
        json!(["conn", "Opaque", 2, "90m"])
    );
}

#[test]
fn namespaces_show_status() {
    let namespace = json!({
        "metadata": {"name": "team-a", "creationTimestamp": minutes_ago(20)},
        "status": {"phase": "Active"},
    });
    let table = to_table(
        &builtin_type("", "Namespace"),
        &[namespace],
        Value::Null,
        "None",
    );
    assert_eq!(column_names(&table), ["Name", "Status", "Age"]);
    assert_eq!(
        table["rows"][0]["cells"],
        json!(["team-a", "Active", "20m"])
    );
}

#[test]
fn events_lead_with_last_seen_and_hide_their_name() {
    let event = json!({
        "metadata": {"name": "summarizer.1234", "creationTimestamp": minutes_ago(3)},
        "type": "Warning",
        "reason": "GatewayUnavailable",
        "message": " gateway answered 503 \n",
        "involvedObject": {"kind": "AIModel", "name": "summarizer"},
        "lastTimestamp": minutes_ago(12),
        "count": 3,
        "source": {"component": "portico"},
    });
    let table = to_table(&builtin_type("", "Event"), &[event], Value::Null, "None");
    let names = column_names(&table);
    assert_eq!(names[..4], ["Last Seen", "Type", "Reason", "Object"]);
    assert_eq!(names.last().map(String::as_str), Some("Name"));
    let cells = &table["rows"][0]["cells"];
    assert_eq!(cells[0], "12m");
    assert_eq!(cells[3], "aimodel/summarizer");
    assert_eq!(cells[5], "portico");
    assert_eq!(cells[6], "gateway answered 503");
    assert_eq!(cells[8], 3);

    let new_event = json!({
        "metadata": {"name": "e2"},
        "type": "Normal",
        "reason": "Provisioned",
        "note": "ready",
        "regarding": {"kind": "ManagedDatabase", "name": "orders"},
        "eventTime": minutes_ago(11),
        "reportingController": "portico.dev/operator",
    });
    let table = to_table(
        &builtin_type("events.k8s.io", "Event"),
        &[new_event],
        Value::Null,
        "None",
    );
    let cells = &table["rows"][0]["cells"];
    assert_eq!(cells[0], "11m");
    assert_eq!(cells[3], "manageddatabase/orders");
    assert_eq!(cells[5], "portico.dev/operator");
    assert_eq!(cells[6], "ready");
}

#[test]
fn other_kinds_show_creation_time() {
    let crd = json!({"metadata": {"name": "aimodels.portico.dev", "creationTimestamp": "2026-01-02T03:04:05Z"}});
    let resource_type = builtin_type("apiextensions.k8s.io", "CustomResourceDefinition");
    let table = to_table(
        &resource_type,
        &[crd],
        json!({"resourceVersion": "7"}),
        "None",
    );
    assert_eq!(column_names(&table), ["Name", "Created At"]);
    assert_eq!(
        table["rows"][0]["cells"],
        json!(["aimodels.portico.dev", "2026-01-02T03:04:05Z"])
    );
}
