//! `portico sandbox --demo`: the whole story against the running sandbox — apply the examples,
//! follow them to Ready, show the connection Secrets, call the model with the issued key, delete
//! everything and follow the deprovisioning. Every step reports what really happened; any
//! failure ends the demo with an error.

use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use secrecy::SecretString;
use serde::Serialize;
use serde::de::DeserializeOwned;

use portico_api::{AIModel, CONDITION_READY, CONDITION_SYNCED, ManagedDatabase, find_condition};
use portico_gateway_client::{GatewayClient, GatewayClientConfig};

const PROVIDER_KEY_SECRET: &str = include_str!("../../../../examples/provider-key-secret.yaml");
const AIMODEL: &str = include_str!("../../../../examples/aimodel.yaml");
const MANAGED_DATABASE: &str = include_str!("../../../../examples/manageddatabase.yaml");

/// How long each phase of the demo may take before it is reported as failed.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// One line per observed state of an object: `phase`, `Ready`, and the `Synced` message.
fn describe(
    phase: Option<String>,
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> String {
    let ready = find_condition(conditions, CONDITION_READY)
        .map(|c| c.status.clone())
        .unwrap_or_else(|| "-".into());
    let synced = find_condition(conditions, CONDITION_SYNCED)
        .map(|c| format!("{}: {}", c.reason, c.message))
        .unwrap_or_default();
    format!(
        "phase={:<12} ready={:<5} {}",
        phase.unwrap_or_else(|| "-".into()),
        ready,
        synced
    )
}

/// Whether an object is Ready, whether it failed for good (a terminal reason: waiting longer
/// cannot help), and its state line.
type State = (bool, bool, String);

fn model_state(model: &AIModel) -> State {
    let status = model.status.clone().unwrap_or_default();
    let ready = find_condition(&status.conditions, CONDITION_READY)
        .is_some_and(|c| c.status == "True")
        && status.observed_generation == model.metadata.generation;
    (
        ready,
        status.phase == Some(portico_api::Phase::Failed),
        describe(
            status.phase.map(|p| p.as_str().to_owned()),
            &status.conditions,
        ),
    )
}

fn database_state(database: &ManagedDatabase) -> State {
    let status = database.status.clone().unwrap_or_default();
    let ready = find_condition(&status.conditions, CONDITION_READY)
        .is_some_and(|c| c.status == "True")
        && status.observed_generation == database.metadata.generation;
    (
        ready,
        status.phase == Some(portico_api::Phase::Failed),
        describe(
            status.phase.map(|p| p.as_str().to_owned()),
            &status.conditions,
        ),
    )
}

/// Runs the demo against a sandbox whose API server `client` talks to.
pub(super) async fn run(client: &Client, gateway_url: &str) -> anyhow::Result<()> {
    println!("\n==> 1. applying the examples");
    let secret: Secret = parse(PROVIDER_KEY_SECRET, "examples/provider-key-secret.yaml")?;
    let model: AIModel = parse(AIMODEL, "examples/aimodel.yaml")?;
    let database: ManagedDatabase = parse(MANAGED_DATABASE, "examples/manageddatabase.yaml")?;
    apply(client, &secret, "secret").await?;
    apply(client, &model, "aimodel").await?;
    apply(client, &database, "manageddatabase").await?;

    println!("\n==> 2. following them to Ready");
    let models = namespaced::<AIModel>(client, &model);
    let databases = namespaced::<ManagedDatabase>(client, &database);
    let model_name = model.name_any();
    let database_name = database.name_any();
    let mut last = (String::new(), String::new());
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        let (model_ready, model_failed, model_line) = match models.get_opt(&model_name).await? {
            Some(object) => model_state(&object),
            None => (false, false, "not found".into()),
        };
        let (database_ready, database_failed, database_line) =
            match databases.get_opt(&database_name).await? {
                Some(object) => database_state(&object),
                None => (false, false, "not found".into()),
            };
        if model_line != last.0 {
            println!("  aimodel/{model_name:<16} {model_line}");
        }
        if database_line != last.1 {
            println!("  manageddatabase/{database_name:<8} {database_line}");
        }
        last = (model_line, database_line);
        if model_ready && database_ready {
            break;
        }
        // A terminal failure will not clear by waiting: say so now, not at the timeout.
        anyhow::ensure!(
            !(model_failed || database_failed),
            "an example failed:\n  aimodel/{model_name}: {}\n  manageddatabase/{database_name}: {}",
            last.0,
            last.1
        );
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the examples were not Ready within {}s; last states:\n  aimodel/{model_name}: {}\n  manageddatabase/{database_name}: {}",
            STEP_TIMEOUT.as_secs(),
            last.0,
            last.1
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    println!("\n==> 3. the connection Secrets");
    let namespace = model.namespace().unwrap_or_else(|| "default".into());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let model_secret_name = model
        .spec
        .write_connection_secret_to_ref
        .as_ref()
        .map(|r| r.name.clone())
        .unwrap_or_else(|| format!("{model_name}-conn"));
    let model_secret = secrets
        .get(&model_secret_name)
        .await
        .with_context(|| format!("failed to read secret {model_secret_name}"))?;
    let endpoint = value(&model_secret, "endpoint")?;
    let client_model = value(&model_secret, "model")?;
    let api_key = SecretString::from(value(&model_secret, "apiKey")?);
    println!(
        "  secret/{model_secret_name}: endpoint={endpoint} model={client_model} apiKey=<{} bytes, not shown>",
        secrecy::ExposeSecret::expose_secret(&api_key).len()
    );
    let database_secret_name = database
        .spec
        .write_connection_secret_to_ref
        .as_ref()
        .map(|r| r.name.clone())
        .unwrap_or_else(|| format!("{database_name}-conn"));
    let database_secret = secrets
        .get(&database_secret_name)
        .await
        .with_context(|| format!("failed to read secret {database_secret_name}"))?;
    println!(
        "  secret/{database_secret_name}: host={} port={} database={} username={} password=<not shown>",
        value(&database_secret, "host")?,
        value(&database_secret, "port")?,
        value(&database_secret, "database")?,
        value(&database_secret, "username")?,
    );

    println!("\n==> 4. calling the model through the gateway with the issued key");
    // Chat calls authenticate with the model's key, not the admin token.
    let no_admin_token = tokio::sync::watch::channel(None::<SecretString>).1;
    let chat = GatewayClient::new(GatewayClientConfig::new(gateway_url), no_admin_token)?;
    let prompt = "Portico provisions AI models and databases through one gateway.";
    let answer = chat
        .chat_completion(&api_key, &client_model, prompt)
        .await
        .context("the chat call with the issued key failed")?;
    println!("  POST {endpoint} -> {}", answer.call);
    println!(
        "  answer: {}",
        answer.value.content.replace('\n', "\n          ")
    );

    println!("\n==> 5. deleting everything");
    models.delete(&model_name, &DeleteParams::default()).await?;
    databases
        .delete(&database_name, &DeleteParams::default())
        .await?;
    Api::<Secret>::namespaced(client.clone(), &namespace)
        .delete(&secret.name_any(), &DeleteParams::default())
        .await?;
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    let mut reported = (false, false);
    loop {
        let model_gone = models.get_opt(&model_name).await?.is_none();
        let database_left = databases.get_opt(&database_name).await?;
        if model_gone && !reported.0 {
            println!("  aimodel/{model_name}: deprovisioned at the gateway, finalizer released");
            reported.0 = true;
        }
        if let Some(object) = &database_left {
            let phase = object
                .status
                .as_ref()
                .and_then(|s| s.phase)
                .map(|p| p.as_str());
            if phase == Some("Deleting") && !reported.1 {
                println!(
                    "  manageddatabase/{database_name}: Deleting (the gateway is dropping it)"
                );
                reported.1 = true;
            }
        }
        if model_gone && database_left.is_none() {
            println!(
                "  manageddatabase/{database_name}: deprovisioned at the gateway, finalizer released"
            );
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "deletion did not complete within {}s",
            STEP_TIMEOUT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for name in [&model_secret_name, &database_secret_name] {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        while secrets.get_opt(name).await?.is_some() {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "secret {name} was not garbage-collected"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    println!("  connection Secrets garbage-collected");
    println!("\ndemo complete: every step succeeded");
    Ok(())
}

fn parse<T: DeserializeOwned>(yaml: &str, file: &str) -> anyhow::Result<T> {
    serde_saphyr::from_str(yaml).with_context(|| format!("failed to parse {file}"))
}

fn namespaced<K>(client: &Client, object: &K) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    Api::namespaced(
        client.clone(),
        &object.namespace().unwrap_or_else(|| "default".into()),
    )
}

async fn apply<K>(client: &Client, object: &K, kind: &str) -> anyhow::Result<()>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let name = object.name_any();
    namespaced::<K>(client, object)
        .patch(
            &name,
            &PatchParams::apply("portico-demo").force(),
            &Patch::Apply(object),
        )
        .await
        .with_context(|| format!("failed to apply {kind}/{name}"))?;
    println!("  {kind}/{name} applied");
    Ok(())
}

fn value(secret: &Secret, key: &str) -> anyhow::Result<String> {
    portico_operator::credentials::secret_value(secret, key)
        .map(|v| secrecy::ExposeSecret::expose_secret(&v).to_owned())
        .with_context(|| format!("secret {} has no key {key}", secret.name_any()))
}
