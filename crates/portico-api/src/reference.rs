//! The CRD reference (`docs/crd-reference.md`), generated from the CRDs' OpenAPI schemas so it
//! can never drift from the types.

use std::fmt::Write;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

/// Markdown reference of every CRD: names, printer columns, and one row per field.
pub fn markdown(crds: &[CustomResourceDefinition]) -> String {
    let mut out = String::from(
        "# CRD reference\n\n\
         Generated from the CRD schemas by `portico crd --reference`; a test fails when this \
         file differs from its output. Field paths are relative to the object; `[]` marks list \
         items, `{}` map values.\n",
    );
    for crd in crds {
        let names = &crd.spec.names;
        for version in &crd.spec.versions {
            let _ = write!(
                out,
                "\n## {kind} (`{group}/{version}`)\n\n",
                kind = names.kind,
                group = crd.spec.group,
                version = version.name
            );
            let schema = version
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .and_then(|s| serde_json::to_value(s).ok())
                .unwrap_or(Value::Null);
            if let Some(description) = schema.get("description").and_then(Value::as_str) {
                let _ = writeln!(out, "{}\n", one_line(description));
            }
            let _ = writeln!(
                out,
                "- Scope: {}; plural `{}`; short names: {}; categories: {}.",
                crd.spec.scope,
                names.plural,
                code_list(names.short_names.as_deref().unwrap_or_default()),
                code_list(names.categories.as_deref().unwrap_or_default()),
            );
            if let Some(columns) = &version.additional_printer_columns {
                let listed: Vec<String> = columns
                    .iter()
                    .map(|c| format!("{} (`{}`)", c.name, c.json_path))
                    .collect();
                let _ = writeln!(out, "- `kubectl get` columns: {}.", listed.join(", "));
            }
            if let Some(rules) = schema
                .get("x-kubernetes-validations")
                .and_then(Value::as_array)
            {
                for rule in rules {
                    if let Some(message) = rule.get("message").and_then(Value::as_str) {
                        let _ = writeln!(out, "- Admission rule: {message}.");
                    }
                }
            }
            let _ = writeln!(
                out,
                "\n| Field | Type | Required | Constraints | Description |\n|---|---|---|---|---|"
            );
            for section in ["spec", "status"] {
                if let Some(sub) = schema.pointer(&format!("/properties/{section}")) {
                    let required = required_of(&schema).contains(&section.to_string());
                    rows(&mut out, section, sub, required);
                }
            }
        }
    }
    out
}

fn required_of(schema: &Value) -> Vec<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn rows(out: &mut String, path: &str, schema: &Value, required: bool) {
    let _ = writeln!(
        out,
        "| `{path}` | {} | {} | {} | {} |",
        type_of(schema),
        if required { "yes" } else { "" },
        constraints(schema),
        schema
            .get("description")
            .and_then(Value::as_str)
            .map(one_line)
            .unwrap_or_default()
            .replace('|', "\\|"),
    );
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        let required = required_of(schema);
        for (name, sub) in properties {
            rows(out, &format!("{path}.{name}"), sub, required.contains(name));
        }
    }
    if let Some(items) = schema.get("items") {
        let required = required_of(items);
        if let Some(properties) = items.get("properties").and_then(Value::as_object) {
            for (name, sub) in properties {
                rows(
                    out,
                    &format!("{path}[].{name}"),
                    sub,
                    required.contains(name),
                );
            }
        }
    }
    if let Some(values) = schema
        .get("additionalProperties")
        .filter(|v| v.get("properties").is_some())
    {
        rows(out, &format!("{path}{{}}"), values, false);
    }
}

fn type_of(schema: &Value) -> String {
    let base = schema.get("type").and_then(Value::as_str).unwrap_or("any");
    let shown = match (base, schema.get("items")) {
        ("array", Some(items)) => format!(
            "[]{}",
            items.get("type").and_then(Value::as_str).unwrap_or("any")
        ),
        _ => base.to_owned(),
    };
    match schema.get("format").and_then(Value::as_str) {
        Some(format) => format!("{shown} ({format})"),
        None => shown,
    }
}

fn constraints(schema: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values.iter().map(|v| format!("`{}`", plain(v))).collect();
        parts.push(format!("one of {}", values.join(", ")));
    }
    for (key, label) in [
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
    ] {
        if let Some(value) = schema.get(key) {
            parts.push(format!("{label} {}", plain(value)));
        }
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        parts.push(format!("pattern `{}`", pattern.replace('|', "\\|")));
    }
    if let Some(default) = schema.get("default") {
        parts.push(format!("default `{}`", plain(default)));
    }
    if let Some(rules) = schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    {
        for rule in rules {
            if let Some(message) = rule.get("message").and_then(Value::as_str) {
                parts.push(message.to_owned());
            }
        }
    }
    parts.join("; ")
}

/// A JSON value as written in YAML: strings bare, integral numbers without a fraction.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                format!("{}", f as i64)
            }
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn code_list(items: &[String]) -> String {
    if items.is_empty() {
        return "none".into();
    }
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
