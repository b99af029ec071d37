//! Invalid custom resources: a generator of variants (wrong types, out-of-range values, bad
//! patterns, missing required fields, unknown fields, huge strings, bad names). Each is refused by
//! the API server with a 422 naming the field, or has its unknown field pruned as Kubernetes does;
//! none reaches the gateway.

use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

use crate::operator::{Env, NS, PROVIDER_KEY, put_secret};
use crate::support::eventually;

/// What the API server must do with a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// 422 Invalid, the message naming this field path.
    Rejected(&'static str),
    /// Created, with the value at this JSON pointer removed.
    Pruned(&'static str),
}

/// A change to a valid manifest.
enum Change {
    Set(&'static str, Value),
    Remove(&'static str),
}

struct Variant {
    kind: &'static str,
    label: String,
    change: Change,
    expect: Expect,
}

fn valid_model() -> Value {
    json!({
        "apiVersion": "portico.dev/v1alpha1",
        "kind": "AIModel",
        "metadata": {"name": "placeholder", "namespace": NS},
        "spec": {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "providerCredentials": {"name": "provider-key", "key": "apiKey"},
            "promptTemplate": {
                "system": "You summarise text.",
                "template": "Summarise: {{input}}",
                "variables": [{"name": "input", "required": true}],
            },
            "parameters": {"temperature": 0.2, "topP": 0.9, "maxTokens": 256},
            "limits": {"requestsPerMinute": 600, "tokensPerMinute": 100000},
            "writeConnectionSecretToRef": {"name": "conn"},
            "deletionPolicy": "Delete",
        },
    })
}

fn valid_database() -> Value {
    json!({
        "apiVersion": "portico.dev/v1alpha1",
        "kind": "ManagedDatabase",
        "metadata": {"name": "placeholder", "namespace": NS},
        "spec": {
            "engine": "PostgreSQL",
            "version": "16",
            "databaseName": "orders",
            "storageGB": 10,
            "replicas": 1,
            "writeConnectionSecretToRef": {"name": "conn"},
            "deletionPolicy": "Delete",
        },
    })
}

/// Pointer → field path as the API server names it (`/spec/limits/x` → `spec.limits.x`, list
/// indexes as `[0]`).
fn field_of(pointer: &str) -> String {
    let mut field = String::new();
    for segment in pointer.trim_start_matches('/').split('/') {
        if segment.chars().all(|c| c.is_ascii_digit()) {
            field.push_str(&format!("[{segment}]"));
        } else {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(segment);
        }
    }
    field
}

fn reject(kind: &'static str, label: &str, pointer: &'static str, value: Value) -> Variant {
    let field: &'static str = Box::leak(field_of(pointer).into_boxed_str());
    Variant {
        kind,
        label: label.to_string(),
        change: Change::Set(pointer, value),
        expect: Expect::Rejected(field),
    }
}

fn require(kind: &'static str, pointer: &'static str) -> Variant {
    let field: &'static str = Box::leak(field_of(pointer).into_boxed_str());
    Variant {
        kind,
        label: format!("missing {field}"),
        change: Change::Remove(pointer),
        expect: Expect::Rejected(field),
    }
}

fn prune(kind: &'static str, pointer: &'static str, value: Value) -> Variant {
    Variant {
        kind,
        label: format!("unknown field {pointer}"),
        change: Change::Set(pointer, value),
        expect: Expect::Pruned(pointer),
    }
}

fn variants() -> Vec<Variant> {
    const M: &str = "AIModel";
    const D: &str = "ManagedDatabase";
    let huge = "x".repeat(1024 * 1024);
    vec![
        // Wrong types.
        reject(M, "provider number", "/spec/provider", json!(5)),
        reject(M, "model object", "/spec/model", json!({"name": "gpt"})),
        reject(
            M,
            "temperature string",
            "/spec/parameters/temperature",
            json!("hot"),
        ),
        reject(
            M,
            "maxTokens float",
            "/spec/parameters/maxTokens",
            json!(1.5),
        ),
        reject(
            M,
            "maxTokens string",
            "/spec/parameters/maxTokens",
            json!("256"),
        ),
        reject(M, "limits list", "/spec/limits", json!([600])),
        reject(
            M,
            "variables object",
            "/spec/promptTemplate/variables",
            json!({"name": "a"}),
        ),
        reject(
            M,
            "variable required string",
            "/spec/promptTemplate/variables/0/required",
            json!("yes"),
        ),
        reject(
            M,
            "credentials string",
            "/spec/providerCredentials",
            json!("provider-key"),
        ),
        reject(
            M,
            "deletionPolicy bool",
            "/spec/deletionPolicy",
            json!(true),
        ),
        reject(D, "storageGB string", "/spec/storageGB", json!("ten")),
        reject(D, "storageGB float", "/spec/storageGB", json!(10.5)),
        reject(D, "replicas bool", "/spec/replicas", json!(false)),
        reject(D, "version number", "/spec/version", json!(16)),
        reject(
            D,
            "databaseName list",
            "/spec/databaseName",
            json!(["orders"]),
        ),
        reject(
            D,
            "conn ref string",
            "/spec/writeConnectionSecretToRef",
            json!("conn"),
        ),
        // Out of range.
        reject(
            M,
            "temperature > 2",
            "/spec/parameters/temperature",
            json!(2.5),
        ),
        reject(
            M,
            "temperature < 0",
            "/spec/parameters/temperature",
            json!(-0.1),
        ),
        reject(M, "topP > 1", "/spec/parameters/topP", json!(1.01)),
        reject(M, "topP < 0", "/spec/parameters/topP", json!(-1)),
        reject(M, "maxTokens 0", "/spec/parameters/maxTokens", json!(0)),
        reject(
            M,
            "maxTokens too many",
            "/spec/parameters/maxTokens",
            json!(1_000_001),
        ),
        reject(
            M,
            "requestsPerMinute 0",
            "/spec/limits/requestsPerMinute",
            json!(0),
        ),
        reject(
            M,
            "requestsPerMinute too many",
            "/spec/limits/requestsPerMinute",
            json!(1_000_001),
        ),
        reject(
            M,
            "tokensPerMinute negative",
            "/spec/limits/tokensPerMinute",
            json!(-5),
        ),
        reject(
            M,
            "tokensPerMinute too many",
            "/spec/limits/tokensPerMinute",
            json!(1_000_000_001_i64),
        ),
        reject(D, "storageGB 0", "/spec/storageGB", json!(0)),
        reject(D, "storageGB 1001", "/spec/storageGB", json!(1001)),
        reject(D, "replicas 6", "/spec/replicas", json!(6)),
        reject(D, "replicas -1", "/spec/replicas", json!(-1)),
        // Enums and patterns.
        reject(M, "provider unknown", "/spec/provider", json!("openia")),
        reject(M, "provider case", "/spec/provider", json!("OpenAI")),
        reject(
            M,
            "deletionPolicy unknown",
            "/spec/deletionPolicy",
            json!("Keep"),
        ),
        reject(D, "engine unknown", "/spec/engine", json!("Oracle")),
        reject(
            D,
            "deletionPolicy lowercase",
            "/spec/deletionPolicy",
            json!("delete"),
        ),
        reject(
            M,
            "variable name digit",
            "/spec/promptTemplate/variables/0/name",
            json!("1input"),
        ),
        reject(
            M,
            "variable name dash",
            "/spec/promptTemplate/variables/0/name",
            json!("in-put"),
        ),
        reject(
            M,
            "conn name upper",
            "/spec/writeConnectionSecretToRef/name",
            json!("Conn"),
        ),
        reject(
            M,
            "conn name underscore",
            "/spec/writeConnectionSecretToRef/name",
            json!("my_conn"),
        ),
        reject(D, "version prefix", "/spec/version", json!("v16")),
        reject(D, "version trailing dot", "/spec/version", json!("16.")),
        reject(
            D,
            "databaseName upper",
            "/spec/databaseName",
            json!("Orders"),
        ),
        reject(
            D,
            "databaseName leading dash",
            "/spec/databaseName",
            json!("-orders"),
        ),
        reject(
            D,
            "databaseName too short",
            "/spec/databaseName",
            json!("ab"),
        ),
        reject(
            D,
            "conn name trailing dot",
            "/spec/writeConnectionSecretToRef/name",
            json!("conn."),
        ),
        // Empty and huge strings, too many items.
        reject(M, "model empty", "/spec/model", json!("")),
        reject(M, "model 254 chars", "/spec/model", json!("m".repeat(254))),
        reject(
            M,
            "template empty",
            "/spec/promptTemplate/template",
            json!(""),
        ),
        reject(
            M,
            "system 1 MiB",
            "/spec/promptTemplate/system",
            json!(huge),
        ),
        reject(
            M,
            "template 32769 chars",
            "/spec/promptTemplate/template",
            json!("t".repeat(32_769)),
        ),
        reject(
            M,
            "variable description 1025 chars",
            "/spec/promptTemplate/variables/0/description",
            json!("d".repeat(1025)),
        ),
        reject(
            M,
            "variable name 64 chars",
            "/spec/promptTemplate/variables/0/name",
            json!("v".repeat(64)),
        ),
        reject(
            M,
            "credentials key 254 chars",
            "/spec/providerCredentials/key",
            json!("k".repeat(254)),
        ),
        reject(
            M,
            "65 variables",
            "/spec/promptTemplate/variables",
            json!(
                (0..65)
                    .map(|i| json!({"name": format!("v{i}")}))
                    .collect::<Vec<_>>()
            ),
        ),
        reject(
            D,
            "databaseName 64 chars",
            "/spec/databaseName",
            json!("d".repeat(64)),
        ),
        reject(
            D,
            "version 17 chars",
            "/spec/version",
            json!("1.".repeat(8) + "1"),
        ),
        // Missing required fields.
        require(M, "/spec"),
        require(M, "/spec/provider"),
        require(M, "/spec/model"),
        require(M, "/spec/promptTemplate/template"),
        require(M, "/spec/promptTemplate/variables/0/name"),
        require(M, "/spec/providerCredentials/key"),
        require(M, "/spec/providerCredentials/name"),
        require(M, "/spec/writeConnectionSecretToRef/name"),
        require(D, "/spec/engine"),
        require(D, "/spec/version"),
        require(D, "/spec/databaseName"),
        require(D, "/spec/storageGB"),
        // Bad object names.
        reject(M, "name upper case", "/metadata/name", json!("BadName")),
        reject(
            D,
            "name with underscore",
            "/metadata/name",
            json!("bad_name"),
        ),
        // Unknown fields: pruned, as for any structural schema.
        prune(M, "/spec/replicas", json!(3)),
        prune(M, "/spec/parameters/frequencyPenalty", json!(0.5)),
        prune(M, "/spec/promptTemplate/variables/0/default", json!("x")),
        prune(D, "/spec/iops", json!(3000)),
        prune(
            D,
            "/spec/writeConnectionSecretToRef/namespace",
            json!("elsewhere"),
        ),
        prune(D, "/surprise", json!({"a": 1})),
    ]
}

fn apply(manifest: &mut Value, change: &Change) {
    match change {
        Change::Set(pointer, value) => {
            let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
            let target = manifest.pointer_mut(parent).expect("parent exists");
            match target {
                Value::Array(items) => {
                    let index: usize = key.parse().expect("index");
                    items[index] = value.clone();
                }
                Value::Object(map) => {
                    map.insert(key.to_string(), value.clone());
                }
                _ => panic!("parent of {pointer} is not a container"),
            }
        }
        Change::Remove(pointer) => {
            let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
            let target = manifest.pointer_mut(parent).expect("parent exists");
            let removed = match target {
                Value::Object(map) => map.remove(key),
                _ => None,
            };
            assert!(removed.is_some(), "{pointer} exists in the valid manifest");
        }
    }
}

fn api_for(env: &Env, kind: &str) -> Api<DynamicObject> {
    let plural = match kind {
        "AIModel" => "aimodels",
        _ => "manageddatabases",
    };
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("portico.dev", "v1alpha1", kind),
        plural,
    );
    Api::namespaced_with(env.client.clone(), NS, &resource)
}

#[tokio::test]
async fn invalid_custom_resources_are_rejected_or_pruned_and_never_reach_the_gateway() {
    let mut env = Env::start().await;
    put_secret(&env.client, NS, "provider-key", &[("apiKey", PROVIDER_KEY)]).await;
    let variants = variants();
    assert!(variants.len() >= 50, "at least 50 invalid variants");
    let (mut rejected, mut pruned) = (0, 0);
    for (index, variant) in variants.iter().enumerate() {
        let mut manifest = match variant.kind {
            "AIModel" => valid_model(),
            _ => valid_database(),
        };
        let name = format!("bad-{index:02}");
        manifest["metadata"]["name"] = json!(name);
        apply(&mut manifest, &variant.change);
        let object: DynamicObject = serde_json::from_value(manifest).expect("dynamic object");
        let created = api_for(&env, variant.kind)
            .create(&PostParams::default(), &object)
            .await;
        match (variant.expect, created) {
            (Expect::Rejected(field), Err(kube::Error::Api(status))) => {
                assert_eq!(status.code, 422, "{}: {status:?}", variant.label);
                assert!(
                    status.message.contains(field),
                    "{}: the message names {field}: {}",
                    variant.label,
                    status.message
                );
                rejected += 1;
            }
            (Expect::Pruned(pointer), Ok(stored)) => {
                let stored = serde_json::to_value(&stored).expect("serialisable");
                assert!(
                    stored.pointer(pointer).is_none(),
                    "{}: {pointer} was kept: {stored}",
                    variant.label
                );
                assert!(stored.pointer("/spec").is_some(), "{}", variant.label);
                // Delete it again before the operator provisions it; its spec is valid.
                api_for(&env, variant.kind)
                    .delete(&name, &Default::default())
                    .await
                    .expect("delete");
                pruned += 1;
            }
            (expect, outcome) => panic!(
                "{}: expected {expect:?}, got {:?}",
                variant.label,
                outcome.map(|o| o.metadata.name)
            ),
        }
    }
    // The operator is running: wait until it has seen the pruned objects come and go, then
    // check that no rejected object ever reached the gateway.
    for (index, variant) in variants.iter().enumerate() {
        if matches!(variant.expect, Expect::Pruned(_)) {
            let api = api_for(&env, variant.kind);
            let name = format!("bad-{index:02}");
            eventually(&format!("{name} gone"), || {
                let api = api.clone();
                let name = name.clone();
                async move { matches!(api.get_opt(&name).await, Ok(None)).then_some(()) }
            })
            .await;
        }
    }
    let rejected_paths: Vec<String> = env
        .gateway
        .requests()
        .into_iter()
        .map(|r| r.path)
        .filter(|path| {
            variants.iter().enumerate().any(|(index, v)| {
                matches!(v.expect, Expect::Rejected(_))
                    && (path.ends_with(&format!("/bad-{index:02}"))
                        || path.contains(&format!("/bad-{index:02}/")))
            })
        })
        .collect();
    assert!(
        rejected_paths.is_empty(),
        "rejected objects reached the gateway: {rejected_paths:?}"
    );
    env.stop_operator().await;
    eprintln!("{rejected} rejected with 422, {pruned} pruned");
}

/// The provider rules on `spec` (CEL), each refused with its own message as kube-apiserver words
/// a failed rule on an object: `spec: Invalid value: <message>` (the object itself is omitted);
/// and a manifest per provider that the rules accept.
#[tokio::test]
async fn provider_rules_refuse_what_the_gateway_cannot_serve_with_their_messages() {
    use portico_api::{
        AZURE_ONLY_MESSAGE, AZURE_REQUIRED_MESSAGE, BASE_URL_MESSAGE, BASE_URL_REQUIRED_MESSAGE,
        UNSUPPORTED_PROVIDER_MESSAGE,
    };
    let env = Env::start_with(crate::operator::Options {
        in_process_operator: false,
        ..crate::operator::Options::default()
    })
    .await;
    let azure = json!({"deployment": "gpt-4o", "apiVersion": "2024-10-21"});
    let on_spec = |message: &str| format!("spec: Invalid value: {message}");
    let bad_url =
        |url: &str| format!("spec.upstream.baseURL: Invalid value: \"{url}\": {BASE_URL_MESSAGE}");
    // (label, provider, upstream, the one error)
    let refused = [
        (
            "google",
            "google",
            Value::Null,
            on_spec(UNSUPPORTED_PROVIDER_MESSAGE),
        ),
        (
            "bedrock with a URL",
            "bedrock",
            json!({"baseURL": "https://bedrock-runtime.us-east-1.amazonaws.com"}),
            on_spec(UNSUPPORTED_PROVIDER_MESSAGE),
        ),
        (
            "custom without upstream",
            "custom",
            Value::Null,
            on_spec(BASE_URL_REQUIRED_MESSAGE),
        ),
        (
            "ollama with empty upstream",
            "ollama",
            json!({}),
            on_spec(BASE_URL_REQUIRED_MESSAGE),
        ),
        (
            "azure without azure",
            "azure-openai",
            json!({"baseURL": "https://r.openai.azure.com"}),
            on_spec(AZURE_REQUIRED_MESSAGE),
        ),
        (
            "azure without baseURL",
            "azure-openai",
            json!({"azure": azure}),
            on_spec(AZURE_REQUIRED_MESSAGE),
        ),
        (
            "azure fields on openai",
            "openai",
            json!({"azure": azure}),
            on_spec(AZURE_ONLY_MESSAGE),
        ),
        (
            "ftp URL",
            "custom",
            json!({"baseURL": "ftp://models.example.com"}),
            bad_url("ftp://models.example.com"),
        ),
        (
            "URL with a query",
            "custom",
            json!({"baseURL": "http://vllm:8000/v1?x=1"}),
            bad_url("http://vllm:8000/v1?x=1"),
        ),
        (
            "no host",
            "ollama",
            json!({"baseURL": "http:///v1"}),
            bad_url("http:///v1"),
        ),
        (
            "azure without deployment",
            "azure-openai",
            json!({"baseURL": "https://r.openai.azure.com", "azure": {"apiVersion": "2024-10-21"}}),
            // A missing required field stops validation before the rules, as in kube.
            "[spec.upstream.azure.deployment: Required value, <nil>: Invalid value: null: some \
             validation rules were not checked because the object was invalid; correct the \
             existing errors to complete validation]"
                .to_string(),
        ),
    ];
    let accepted = [
        ("openai", "openai", Value::Null),
        (
            "openai via a proxy",
            "openai",
            json!({"baseURL": "https://llm-proxy.internal:8443/openai/v1"}),
        ),
        ("anthropic", "anthropic", Value::Null),
        (
            "azure",
            "azure-openai",
            json!({"baseURL": "https://r.openai.azure.com", "azure": azure}),
        ),
        (
            "vllm",
            "custom",
            json!({"baseURL": "http://vllm.models.svc.cluster.local:8000/v1"}),
        ),
        (
            "ollama",
            "ollama",
            json!({"baseURL": "http://10.0.3.7:11434"}),
        ),
    ];
    let api = api_for(&env, "AIModel");
    let manifest = |name: &str, provider: &str, upstream: &Value| {
        let mut manifest = valid_model();
        manifest["metadata"]["name"] = json!(name);
        manifest["spec"]["provider"] = json!(provider);
        if !upstream.is_null() {
            manifest["spec"]["upstream"] = upstream.clone();
        }
        serde_json::from_value::<DynamicObject>(manifest).expect("dynamic object")
    };
    for (index, (label, provider, upstream, expected)) in refused.iter().enumerate() {
        let name = format!("rule-{index:02}");
        let created = api
            .create(&PostParams::default(), &manifest(&name, provider, upstream))
            .await;
        let Err(kube::Error::Api(status)) = created else {
            panic!(
                "{label}: expected a 422, got {:?}",
                created.map(|o| o.metadata.name)
            );
        };
        assert_eq!(
            (status.code, status.reason.as_str(), status.message.as_str()),
            (
                422,
                "Invalid",
                format!(r#"AIModel.portico.dev "{name}" is invalid: {expected}"#).as_str()
            ),
            "{label}"
        );
    }
    for (index, (label, provider, upstream)) in accepted.iter().enumerate() {
        let name = format!("fine-{index:02}");
        let created = api
            .create(&PostParams::default(), &manifest(&name, provider, upstream))
            .await;
        assert!(created.is_ok(), "{label}: {created:?}");
    }
}
