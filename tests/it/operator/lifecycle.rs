//! AIModel lifecycle through the operator: create → Ready with a working key, spec update,
//! delete with both policies, adoption by external name, and re-issue of a lost key.

use kube::api::{DeleteParams, Patch, PatchParams};
use portico_api::{AIModel, CONDITION_SYNCED, FINALIZER};
use portico_gateway_client::ErrorClass;
use secrecy::SecretString;

use super::{Env, HasConditions, NS, PROVIDER_KEY, aimodel, model_spec, put_secret, secret_string};
use crate::support::eventually;

#[tokio::test]
async fn aimodel_create_update_delete() {
    let env = Env::start().await;
    put_secret(&env.client, NS, "provider-key", &[("apiKey", PROVIDER_KEY)]).await;
    env.create::<AIModel>(aimodel("summarizer", model_spec()))
        .await;

    let model = env.wait_ready::<AIModel>("summarizer").await;
    assert!(
        model
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == FINALIZER)
    );
    let status = model.status.clone().expect("status");
    assert_eq!(status.external_name.as_deref(), Some("summarizer"));
    let last = status.last_operation.expect("lastOperation recorded");
    assert_eq!(last.method, "PUT");
    let trace_id = last.trace_id.expect("trace id recorded");
    assert_eq!(trace_id.len(), 32, "W3C trace id: {trace_id}");
    let synced = model.condition(CONDITION_SYNCED).expect("Synced");
    assert_eq!(synced.status, "True");
    assert!(synced.message.contains(&trace_id), "{}", synced.message);

    // The connection Secret is owned by the model and holds a key the gateway accepts.
    let secret = env
        .secret("summarizer-conn")
        .await
        .expect("connection secret");
    let owner = &secret.metadata.owner_references.as_ref().expect("owned")[0];
    assert_eq!(owner.uid, model.metadata.uid.clone().expect("uid"));
    let api_key = secret_string(&secret, "apiKey");
    let endpoint = secret_string(&secret, "endpoint");
    let client_model = secret_string(&secret, "model");
    assert!(endpoint.starts_with(&env.gateway.url()), "{endpoint}");
    let answer = env
        .gateway_admin
        .chat_completion(
            &SecretString::from(api_key.clone()),
            &client_model,
            "a long text",
        )
        .await
        .expect("the issued key works at the chat endpoint");
    assert!(
        answer.value.content.contains("a long text"),
        "{}",
        answer.value.content
    );

    // The gateway received the provider key from the Secret.
    let at_gateway = env
        .gateway_admin
        .get_model(NS, "summarizer")
        .await
        .expect("model exists");
    assert_eq!(at_gateway.value.generation, 1);

    // Spec update: the gateway follows and observedGeneration catches up.
    env.api::<AIModel>()
        .patch(
            "summarizer",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"parameters": {"temperature": 1.5}}})),
        )
        .await
        .expect("spec patched");
    let updated = env.wait_ready::<AIModel>("summarizer").await;
    assert_eq!(
        updated.status.as_ref().and_then(|s| s.observed_generation),
        Some(2)
    );
    let at_gateway = env
        .gateway_admin
        .get_model(NS, "summarizer")
        .await
        .expect("model exists");
    assert_eq!(at_gateway.value.generation, 2);
    assert_eq!(
        at_gateway.value.spec.parameters.and_then(|p| p.temperature),
        Some(1.5)
    );
    // The key survived the update: issued once.
    assert_eq!(env.gateway_calls("upsertModelKey", 201), 1);
    let secret = env
        .secret("summarizer-conn")
        .await
        .expect("connection secret");
    assert_eq!(secret_string(&secret, "apiKey"), api_key);

    // Delete: gone at the gateway, finalizer released, Secret garbage-collected.
    env.api::<AIModel>()
        .delete("summarizer", &DeleteParams::default())
        .await
        .expect("delete accepted");
    env.wait_gone::<AIModel>("summarizer").await;
    let error = env
        .gateway_admin
        .get_model(NS, "summarizer")
        .await
        .expect_err("model deprovisioned");
    assert_eq!(error.class(), ErrorClass::NotFound);
    eventually("connection secret garbage-collected", || async {
        env.secret("summarizer-conn").await.is_none().then_some(())
    })
    .await;
    let revoked = env
        .gateway_admin
        .chat_completion(&SecretString::from(api_key), &client_model, "hello")
        .await
        .expect_err("the key is revoked with the model");
    assert_eq!(revoked.status(), Some(401));
}

#[tokio::test]
async fn orphan_policy_leaves_the_gateway_model() {
    let env = Env::start().await;
    let mut spec = model_spec();
    spec["providerCredentials"] = serde_json::Value::Null;
    spec["deletionPolicy"] = "Orphan".into();
    env.create::<AIModel>(aimodel("keeper", spec)).await;
    env.wait_ready::<AIModel>("keeper").await;

    env.api::<AIModel>()
        .delete("keeper", &DeleteParams::default())
        .await
        .expect("delete accepted");
    env.wait_gone::<AIModel>("keeper").await;
    env.gateway_admin
        .get_model(NS, "keeper")
        .await
        .expect("orphaned model stays at the gateway");
    assert_eq!(env.gateway_calls_any("deleteModel"), 0);
}

#[tokio::test]
async fn external_name_adopts_an_existing_gateway_model() {
    let env = Env::start().await;
    let existing = portico_gateway_client::ModelSpec {
        provider: "openai".into(),
        upstream_model: "gpt-4o-mini".into(),
        provider_credential: None,
        prompt_template: None,
        parameters: None,
        limits: None,
        upstream: None,
    };
    env.gateway_admin
        .upsert_model(NS, "legacy-model", &existing)
        .await
        .expect("pre-existing gateway model");
    let mut manifest = aimodel(
        "adopter",
        serde_json::json!({"provider": "openai", "model": "gpt-4o-mini"}),
    );
    manifest["metadata"]["annotations"] =
        serde_json::json!({"portico.dev/external-name": "legacy-model"});
    env.create::<AIModel>(manifest).await;

    let model = env.wait_ready::<AIModel>("adopter").await;
    assert_eq!(
        model.status.and_then(|s| s.external_name).as_deref(),
        Some("legacy-model")
    );
    let stats = env.gateway.stats();
    assert_eq!(stats.objects.models, 1, "adopted, not duplicated");
    env.gateway_admin
        .get_model(NS, "adopter")
        .await
        .expect_err("no model under the resource's own name");
}

#[tokio::test]
async fn deleted_connection_secret_reissues_the_key_and_revokes_the_old() {
    let env = Env::start().await;
    let mut spec = model_spec();
    spec["providerCredentials"] = serde_json::Value::Null;
    env.create::<AIModel>(aimodel("rekey", spec)).await;
    env.wait_ready::<AIModel>("rekey").await;
    let first = env.secret("rekey-conn").await.expect("connection secret");
    let old_key = secret_string(&first, "apiKey");
    let client_model = secret_string(&first, "model");

    kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(env.client.clone(), NS)
        .delete("rekey-conn", &DeleteParams::default())
        .await
        .expect("secret deleted");
    let new_key = eventually("connection secret re-created with a new key", || async {
        let secret = env.secret("rekey-conn").await?;
        let key = secret_string(&secret, "apiKey");
        (key != old_key).then_some(key)
    })
    .await;
    env.gateway_admin
        .chat_completion(&SecretString::from(new_key), &client_model, "hi")
        .await
        .expect("the new key works");
    let old = env
        .gateway_admin
        .chat_completion(&SecretString::from(old_key), &client_model, "hi")
        .await
        .expect_err("the old key was revoked");
    assert_eq!(old.status(), Some(401));
    assert_eq!(
        env.gateway.stats().objects.model_keys,
        1,
        "one key per model"
    );
}

/// Rotating the provider key sends it to the gateway again (one upsert, the Secret's new
/// version recorded), and only a real change does: dropping and compacting the watches replays
/// every Secret, which must not re-send anything.
#[tokio::test]
async fn rotated_provider_key_is_sent_again_and_only_then() {
    use k8s_openapi::api::core::v1::Secret;
    let mut env = Env::start().await;
    put_secret(&env.client, NS, "provider-key", &[("apiKey", PROVIDER_KEY)]).await;
    env.create::<AIModel>(aimodel("rotating", model_spec()))
        .await;
    let model = env.wait_ready::<AIModel>("rotating").await;
    let first_version = model
        .status
        .and_then(|s| s.provider_credentials_version)
        .expect("the key's Secret version is recorded");
    assert_eq!(env.gateway_calls("upsertModel", 201), 1);

    put_secret(
        &env.client,
        NS,
        "provider-key",
        &[("apiKey", "sk-rotated-51e7c0a2")],
    )
    .await;
    let rotated_version = kube::Api::<Secret>::namespaced(env.client.clone(), NS)
        .get("provider-key")
        .await
        .expect("provider key")
        .metadata
        .resource_version
        .expect("version");
    assert_ne!(rotated_version, first_version);
    let api = env.api::<AIModel>();
    eventually("the rotated key to be sent", || async {
        let model = api.get("rotating").await.ok()?;
        let status = model.status?;
        (status.provider_credentials_version.as_deref() == Some(rotated_version.as_str()))
            .then_some(())
    })
    .await;
    assert_eq!(
        env.gateway_calls("upsertModel", 200),
        1,
        "one update carried the new key"
    );

    // Relists replay every Secret unchanged: no object is re-checked, nothing re-sent. The
    // witness: a model waiting for a Secret that is created after the compaction. Lists come
    // sorted by name (as from etcd), so once the witness is Ready, the replayed provider-key
    // (sorted before `zz-…`) has been handled.
    let mut witness = model_spec();
    witness["providerCredentials"]["name"] = serde_json::json!("zz-witness-key");
    env.create::<AIModel>(aimodel("witness", witness)).await;
    super::failures::wait_synced_false::<AIModel>(&env, "witness", "CredentialsMissing").await;
    let checks_before = env.gateway_calls_any("getModel");
    env.apiserver.faults().compact();
    env.apiserver.faults().close_watches();
    put_secret(
        &env.client,
        NS,
        "zz-witness-key",
        &[("apiKey", PROVIDER_KEY)],
    )
    .await;
    env.wait_ready::<AIModel>("witness").await;
    assert_eq!(
        env.gateway_calls_any("getModel"),
        checks_before,
        "a relist of unchanged Secrets triggered drift checks"
    );
    assert_eq!(
        env.gateway_calls("upsertModel", 200),
        1,
        "a relist of unchanged Secrets re-sent a key"
    );

    // A rotation while no operator runs is sent as soon as one starts again, not at the
    // spread-out first drift check (the poll interval here is five minutes).
    env.stop_operator().await;
    put_secret(
        &env.client,
        NS,
        "provider-key",
        &[("apiKey", "sk-rotated-while-down")],
    )
    .await;
    env.start_operator();
    eventually("the key rotated while down to be sent", || async {
        (env.gateway_calls("upsertModel", 200) == 2).then_some(())
    })
    .await;
}
