//! The contract's operations on the reference gateway's store.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::ownership;
use super::state::AppState;
use super::store::{
    DatabaseEntry, KeyEntry, KeyOwner, ModelEntry, ObjectKey, digest, random_string, role_name,
};
use super::upstream;
use super::wire::{
    ApiKey, Database, DatabaseConnection, DatabaseCredentials, DatabasePhase, DatabaseSpec, Engine,
    ErrorDetail, List, Model, ModelSpec, UpstreamCheck, Violations,
};

pub(crate) fn routes() -> Router<Arc<AppState>> {
    use axum::routing::{get, post, put};
    Router::new()
        .route("/v1/namespaces/{ns}/models", get(list_models))
        .route(
            "/v1/namespaces/{ns}/models/{name}",
            put(upsert_model).get(get_model).delete(delete_model),
        )
        .route(
            "/v1/namespaces/{ns}/models/{model}/keys/{key}",
            put(upsert_model_key).delete(delete_model_key),
        )
        .route("/v1/namespaces/{ns}/databases", get(list_databases))
        .route(
            "/v1/namespaces/{ns}/databases/{name}",
            put(upsert_database)
                .get(get_database)
                .delete(delete_database),
        )
        .route(
            "/v1/namespaces/{ns}/databases/{name}/credentials",
            post(rotate_database_credentials),
        )
        .route("/v1/admin/stats", get(get_stats))
}

pub(crate) type Params = Result<Path<HashMap<String, String>>, PathRejection>;

/// The named path parameters, each checked to be an object name.
pub(crate) fn names<const N: usize>(
    params: Params,
    fields: [&str; N],
) -> Result<[String; N], ApiError> {
    let Path(params) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let mut violations = Violations::default();
    let values = fields.map(|field| {
        let value = params.get(field).cloned().unwrap_or_default();
        violations.object_name(field, &value);
        value
    });
    if violations.is_empty() {
        Ok(values)
    } else {
        Err(ApiError::invalid(violations.0))
    }
}

/// Parses a JSON body: `400` when it is not JSON, `422` naming the field when it does not fit.
pub(crate) fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    let value = match parsed {
        Ok(value) => value,
        Err(error) => {
            let field = error.path().to_string();
            let inner = error.into_inner();
            return Err(match inner.classify() {
                serde_json::error::Category::Data => ApiError::invalid(vec![ErrorDetail {
                    field: if field == "." { String::new() } else { field },
                    reason: inner.to_string(),
                }]),
                _ => ApiError::bad_request(format!("the body is not valid JSON: {inner}")),
            });
        }
    };
    deserializer
        .end()
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    (status, axum::Json(value)).into_response()
}

pub(crate) fn lock(
    state: &AppState,
) -> Result<std::sync::MutexGuard<'_, super::store::Store>, ApiError> {
    state
        .store
        .lock()
        .map_err(|_| ApiError::internal("the store is unavailable"))
}

/// The `owner` query parameter of writes, deletions and key operations.
type OwnerParam = Result<Query<ownership::OwnerQuery>, QueryRejection>;

#[derive(serde::Deserialize)]
struct ListQuery {
    limit: Option<String>,
    #[serde(rename = "continue")]
    continue_: Option<String>,
}

/// `limit` (1 to 500, default 100) and `continue` of a list call.
fn page_params(
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<(usize, String), ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let mut violations = Violations::default();
    let limit = match query.limit.as_deref() {
        None => 100,
        Some(text) => match text.parse::<usize>() {
            Ok(limit @ 1..=500) => limit,
            _ => {
                violations.0.push(ErrorDetail {
                    field: "limit".into(),
                    reason: "must be an integer from 1 to 500".into(),
                });
                0
            }
        },
    };
    let after = query.continue_.unwrap_or_default();
    violations.length("continue", &after, 0, 253);
    if violations.is_empty() {
        Ok((limit, after))
    } else {
        Err(ApiError::invalid(violations.0))
    }
}

/// One page of `items` (ordered by name) after `after`.
fn page<T, E>(
    map: &std::collections::BTreeMap<ObjectKey, E>,
    ns: &str,
    limit: usize,
    after: &str,
    view: impl Fn(&ObjectKey, &E) -> T,
) -> List<T> {
    use std::ops::Bound;
    let start = (ns.to_string(), after.to_string());
    let lower = if after.is_empty() {
        Bound::Included(start)
    } else {
        Bound::Excluded(start)
    };
    let mut entries = map
        .range((lower, Bound::Unbounded))
        .take_while(|(key, _)| key.0 == ns);
    let items: Vec<(&ObjectKey, &E)> = entries.by_ref().take(limit).collect();
    let more = entries.next().is_some();
    List {
        continue_: more
            .then(|| items.last().map(|(key, _)| key.1.clone()))
            .flatten(),
        items: items
            .into_iter()
            .map(|(key, entry)| view(key, entry))
            .collect(),
    }
}

// ---- models ----

fn model_view(state: &AppState, key: &ObjectKey, entry: &ModelEntry) -> Model {
    Model {
        namespace: key.0.clone(),
        name: key.1.clone(),
        generation: entry.generation,
        phase: "Ready",
        endpoint: format!("{}/v1/chat/completions", state.public_url),
        client_model: format!("{}/{}", key.0, key.1),
        spec: ModelSpec {
            provider_credential: None,
            ..entry.spec.clone()
        },
        owner: entry.owner.clone(),
        upstream_check: entry.upstream_check.clone(),
    }
}

async fn upsert_model(
    State(state): State<Arc<AppState>>,
    params: Params,
    owner: OwnerParam,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let [ns, name] = names(params, ["ns", "name"])?;
    let owner = ownership::claimed(owner)?;
    let spec: ModelSpec = body(&bytes)?;
    let mut violations = Violations::default();
    spec.validate(&mut violations);
    // What the gateway cannot serve is refused here, never accepted silently.
    let target = match upstream::target(&spec, &state.data.overrides) {
        Ok(target) => Some(target),
        Err((field, reason)) => {
            violations.0.push(ErrorDetail { field, reason });
            None
        }
    };
    let (Some(target), true) = (target, violations.is_empty()) else {
        return Err(ApiError::invalid(violations.0));
    };
    let spec_json = serde_json::to_value(&spec).map_err(|e| ApiError::internal(e.to_string()))?;
    let credential_digest = spec
        .provider_credential
        .as_ref()
        .map(|c| digest(c.expose_secret()));
    let key = (ns, name);
    // One authenticated call to the upstream when the model is new, changed, or its last
    // check did not pass; never under the store's lock.
    let needs_check = {
        let store = lock(&state)?;
        match store.models.get(&key) {
            Some(entry) => {
                let what = format!("model {}/{}", key.0, key.1);
                ownership::check(entry.owner.as_deref(), owner.as_deref(), &what)?;
                entry.spec_json != spec_json
                    || entry.credential_digest != credential_digest
                    || !entry.upstream_check.passed()
            }
            None => true,
        }
    };
    let check = if needs_check {
        Some(
            upstream::check(
                &state.data.http,
                &state.data.egress,
                &target,
                &spec.upstream_model,
                state.data.check_timeout,
            )
            .await,
        )
    } else {
        None
    };
    let mut store = lock(&state)?;
    let status = match store.models.get_mut(&key) {
        Some(entry) => {
            let what = format!("model {}/{}", key.0, key.1);
            ownership::claim(&mut entry.owner, owner.as_deref(), &what)?;
            if entry.spec_json != spec_json || entry.credential_digest != credential_digest {
                entry.generation += 1;
                entry.spec = spec;
                entry.spec_json = spec_json;
                entry.credential_digest = credential_digest;
            }
            if let Some(check) = check {
                entry.upstream_check = check;
            }
            StatusCode::OK
        }
        None => {
            store.models.insert(
                key.clone(),
                ModelEntry {
                    spec,
                    spec_json,
                    credential_digest,
                    generation: 1,
                    keys: Default::default(),
                    owner,
                    upstream_check: check.unwrap_or_else(UpstreamCheck::unchecked),
                    created: jiff::Timestamp::now().as_second(),
                },
            );
            StatusCode::CREATED
        }
    };
    let entry = store
        .models
        .get(&key)
        .ok_or_else(|| ApiError::internal("the model vanished"))?;
    if !entry.upstream_check.passed() {
        tracing::info!(
            model = %format_args!("{}/{}", key.0, key.1),
            reason = entry.upstream_check.reason.unwrap_or_default(),
            message = entry.upstream_check.message.as_deref().unwrap_or_default(),
            "upstream check did not pass"
        );
    }
    Ok(json(status, &model_view(&state, &key, entry)))
}

async fn get_model(
    State(state): State<Arc<AppState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let [ns, name] = names(params, ["ns", "name"])?;
    let key = (ns, name);
    let store = lock(&state)?;
    let entry = store
        .models
        .get(&key)
        .ok_or_else(|| ApiError::not_found(format!("model {}/{} not found", key.0, key.1)))?;
    Ok(json(StatusCode::OK, &model_view(&state, &key, entry)))
}

async fn delete_model(
    State(state): State<Arc<AppState>>,
    params: Params,
    owner: OwnerParam,
) -> Result<Response, ApiError> {
    let [ns, name] = names(params, ["ns", "name"])?;
    let owner = ownership::claimed(owner)?;
    let key = (ns, name);
    let mut store = lock(&state)?;
    if let Some(entry) = store.models.get(&key) {
        let what = format!("model {}/{}", key.0, key.1);
        ownership::check(entry.owner.as_deref(), owner.as_deref(), &what)?;
    }
    if store.remove_model(&key) {
        drop(store);
        state.data.forget(&key);
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format!(
            "model {}/{} not found",
            key.0, key.1
        )))
    }
}

async fn list_models(
    State(state): State<Arc<AppState>>,
    params: Params,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let [ns] = names(params, ["ns"])?;
    let (limit, after) = page_params(query)?;
    let store = lock(&state)?;
    let list = page(&store.models, &ns, limit, &after, |key, entry| {
        model_view(&state, key, entry)
    });
    Ok(json(StatusCode::OK, &list))
}

async fn upsert_model_key(
    State(state): State<Arc<AppState>>,
    params: Params,
    owner: OwnerParam,
) -> Result<Response, ApiError> {
    let [ns, model, name] = names(params, ["ns", "model", "key"])?;
    let owner = ownership::claimed(owner)?;
    let mut store = lock(&state)?;
    let entry = store
        .models
        .get_mut(&(ns.clone(), model.clone()))
        .ok_or_else(|| ApiError::not_found(format!("model {ns}/{model} not found")))?;
    ownership::check(
        entry.owner.as_deref(),
        owner.as_deref(),
        &format!("model {ns}/{model}"),
    )?;
    let view = |id: &str, secret: Option<String>| ApiKey {
        namespace: ns.clone(),
        model: model.clone(),
        name: name.clone(),
        id: id.to_string(),
        secret,
    };
    if let Some(existing) = entry.keys.get(&name) {
        return Ok(json(StatusCode::OK, &view(&existing.id, None)));
    }
    let secret = format!("pk-{}", random_string(40));
    let id = format!("key-{}", random_string(16).to_lowercase());
    let key_digest = digest(&secret);
    entry.keys.insert(
        name.clone(),
        KeyEntry {
            id: id.clone(),
            digest: key_digest,
        },
    );
    store.keys.insert(
        key_digest,
        KeyOwner {
            namespace: ns.clone(),
            model: model.clone(),
            key: name.clone(),
        },
    );
    Ok(json(StatusCode::CREATED, &view(&id, Some(secret))))
}

async fn delete_model_key(
    State(state): State<Arc<AppState>>,
    params: Params,
    owner: OwnerParam,
) -> Result<Response, ApiError> {
    let [ns, model, name] = names(params, ["ns", "model", "key"])?;
    let owner = ownership::claimed(owner)?;
    let mut store = lock(&state)?;
    if let Some(entry) = store.models.get(&(ns.clone(), model.clone())) {
        ownership::check(
            entry.owner.as_deref(),
            owner.as_deref(),
            &format!("model {ns}/{model}"),
        )?;
    }
    let removed = store
        .models
        .get_mut(&(ns.clone(), model.clone()))
        .and_then(|entry| entry.keys.remove(&name));
    match removed {
        Some(issued) => {
            store.keys.remove(&issued.digest);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        None => Err(ApiError::not_found(format!(
            "key {name} of model {ns}/{model} not found"
        ))),
    }
}

// ---- databases ----

/// `Retry-After` for asynchronous database work.
fn work_retry_after(state: &AppState) -> u64 {
    state.provision_delay.as_secs_f64().ceil().max(1.0) as u64
}

fn database_view(key: &ObjectKey, entry: &DatabaseEntry) -> Database {
    Database {
        namespace: key.0.clone(),
        name: key.1.clone(),
        generation: entry.generation,
        phase: entry.phase,
        message: entry.message.clone(),
        spec: entry.spec.clone(),
        connection: entry.connection.clone(),
        credentials: None,
        owner: entry.owner.clone(),
    }
}

fn uses_provisioner(state: &AppState, spec: &DatabaseSpec) -> bool {
    state.provisioner.is_some() && spec.engine == Engine::PostgreSQL
}

async fn upsert_database(
    State(state): State<Arc<AppState>>,
    params: Params,
    owner: OwnerParam,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let [ns, name] = names(params, ["ns", "name"])?;
    let owner = ownership::claimed(owner)?;
    let spec: DatabaseSpec = body(&bytes)?;
    let mut violations = Violations::default();
    spec.validate(&mut violations);
    if !violations.is_empty() {
        return Err(ApiError::invalid(violations.0));
    }
    let key = (ns, name);
    let mut store = lock(&state)?;
    if let Some(entry) = store.databases.get_mut(&key) {
        let what = format!("database {}/{}", key.0, key.1);
        ownership::claim(&mut entry.owner, owner.as_deref(), &what)?;
        let mut immutable = Vec::new();
        if entry.spec.engine != spec.engine {
            immutable.push(ErrorDetail {
                field: "engine".into(),
                reason: "is immutable".into(),
            });
        }
        if entry.spec.database_name != spec.database_name {
            immutable.push(ErrorDetail {
                field: "databaseName".into(),
                reason: "is immutable".into(),
            });
        }
        if !immutable.is_empty() {
            return Err(ApiError::conflict(
                "an immutable field would change; delete and recreate the database instead",
                immutable,
            ));
        }
        let what = format!("database {}/{}", key.0, key.1);
        ownership::check(entry.owner.as_deref(), owner.as_deref(), &what)?;
        if entry.phase == DatabasePhase::Deleting {
            return Err(ApiError::conflict(
                "the database is being deleted",
                Vec::new(),
            ));
        }
        let changed = entry.spec != spec;
        if changed {
            entry.generation += 1;
            entry.spec = spec;
        }
        // A failed database is tried again; a change of a ready one (storage, replicas,
        // version) is real work too, so it goes through Pending and Provisioning again (unless
        // provisioning is instantaneous).
        let restart = entry.phase == DatabasePhase::Failed
            || (changed && entry.phase == DatabasePhase::Ready && !state.provision_delay.is_zero());
        if restart {
            entry.phase = DatabasePhase::Pending;
            entry.message = None;
        }
        let view = database_view(&key, entry);
        let incarnation = entry.incarnation;
        drop(store);
        let mut response = json(StatusCode::OK, &view);
        if restart {
            tokio::spawn(provision(state.clone(), key, incarnation));
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                work_retry_after(&state).into(),
            );
        }
        return Ok(response);
    }
    if uses_provisioner(&state, &spec)
        && store.databases.values().any(|other| {
            uses_provisioner(&state, &other.spec) && other.spec.database_name == spec.database_name
        })
    {
        return Err(ApiError::conflict(
            format!(
                "database name {:?} is already used on this server",
                spec.database_name
            ),
            vec![ErrorDetail {
                field: "databaseName".into(),
                reason: "is already taken".into(),
            }],
        ));
    }
    store.next_incarnation += 1;
    let incarnation = store.next_incarnation;
    let username = role_name(&key.0, &key.1);
    let password = random_string(32);
    let entry = DatabaseEntry {
        spec,
        generation: 1,
        phase: DatabasePhase::Pending,
        message: None,
        connection: None,
        username: username.clone(),
        password: SecretString::from(password.clone()),
        password_version: 0,
        incarnation,
        work: Arc::default(),
        owner,
    };
    let mut view = database_view(&key, &entry);
    view.credentials = Some(DatabaseCredentials {
        username: username.clone(),
        password,
    });
    let immediate = state.provision_delay.is_zero() && !uses_provisioner(&state, &entry.spec);
    let mut entry = entry;
    if immediate {
        // Nothing to wait for: the next GET already sees the database Ready, with no race
        // against a background task.
        entry.phase = DatabasePhase::Ready;
        entry.connection = Some(DatabaseConnection {
            host: state.database_host.clone(),
            port: entry.spec.engine.default_port(),
            database: entry.spec.database_name.clone(),
            username,
        });
    }
    store.databases.insert(key.clone(), entry);
    drop(store);
    if !immediate {
        tokio::spawn(provision(state.clone(), key, incarnation));
    }
    let retry_after = work_retry_after(&state);
    let mut response = json(StatusCode::ACCEPTED, &view);
    response
        .headers_mut()
        .insert(axum::http::header::RETRY_AFTER, retry_after.into());
    Ok(response)
}

/// How long an accepted database stays `Pending` before provisioning starts: a quarter of the
/// provisioning delay, which therefore covers both phases.
fn pending_time(state: &AppState) -> Duration {
    state.provision_delay / 4
}

/// Background provisioning of one database incarnation: `Pending` for `pending_time`, then
/// `Provisioning` until the configured delay has passed and the provisioner (if any) is done.
async fn provision(state: Arc<AppState>, key: ObjectKey, incarnation: u64) {
    let pending = pending_time(&state);
    tokio::time::sleep(pending).await;
    let started = state.store.lock().ok().is_some_and(|mut store| {
        match store
            .databases
            .get_mut(&key)
            .filter(|e| e.incarnation == incarnation && e.phase == DatabasePhase::Pending)
        {
            Some(entry) => {
                entry.phase = DatabasePhase::Provisioning;
                true
            }
            // Deleted (or recreated) while it waited.
            None => false,
        }
    });
    if !started {
        return;
    }
    tokio::time::sleep(state.provision_delay.saturating_sub(pending)).await;
    let current = |store: &mut super::store::Store| {
        store
            .databases
            .get_mut(&key)
            .filter(|e| e.incarnation == incarnation && e.phase == DatabasePhase::Provisioning)
            .map(|e| {
                (
                    e.work.clone(),
                    e.spec.clone(),
                    e.username.clone(),
                    e.password.clone(),
                    e.password_version,
                )
            })
    };
    let Some((work, ..)) = state.store.lock().ok().and_then(|mut s| current(&mut s)) else {
        return;
    };
    let _working = work.lock().await;
    loop {
        let Some((_, spec, username, password, version)) =
            state.store.lock().ok().and_then(|mut s| current(&mut s))
        else {
            return;
        };
        let outcome = match (&state.provisioner, spec.engine) {
            (Some(provisioner), Engine::PostgreSQL) => {
                provisioner
                    .provision(&spec.database_name, &username, &password)
                    .await
            }
            _ => Ok((state.database_host.clone(), spec.engine.default_port())),
        };
        let Ok(mut store) = state.store.lock() else {
            return;
        };
        let Some(entry) = store
            .databases
            .get_mut(&key)
            .filter(|e| e.incarnation == incarnation && e.phase == DatabasePhase::Provisioning)
        else {
            return;
        };
        if entry.password_version != version {
            // The password was rotated meanwhile: provision again so the role gets the new one.
            continue;
        }
        match outcome {
            Ok((host, port)) => {
                entry.phase = DatabasePhase::Ready;
                entry.connection = Some(DatabaseConnection {
                    host,
                    port,
                    database: spec.database_name.clone(),
                    username,
                });
            }
            Err(message) => {
                tracing::warn!(database = %spec.database_name, %message, "provisioning failed");
                entry.phase = DatabasePhase::Failed;
                entry.message = Some(format!("provisioning failed: {message}"));
            }
        }
        return;
    }
}

async fn get_database(
    State(state): State<Arc<AppState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let [ns, name] = names(params, ["ns", "name"])?;
    let key = (ns, name);
    let store = lock(&state)?;
    let entry = store
        .databases
        .get(&key)
        .ok_or_else(|| ApiError::not_found(format!("database {}/{} not found", key.0, key.1)))?;
    Ok(json(StatusCode::OK, &database_view(&key, entry)))
}

async fn delete_database(
    State(state): State<Arc<AppState>>,
    params: Params,
    owner: OwnerParam,
) -> Result<Response, ApiError> {
    let [ns, name] = names(params, ["ns", "name"])?;
    let owner = ownership::claimed(owner)?;
    let key = (ns, name);
    let mut store = lock(&state)?;
    let entry = store
        .databases
        .get_mut(&key)
        .ok_or_else(|| ApiError::not_found(format!("database {}/{} not found", key.0, key.1)))?;
    let what = format!("database {}/{}", key.0, key.1);
    ownership::check(entry.owner.as_deref(), owner.as_deref(), &what)?;
    let start = entry.phase != DatabasePhase::Deleting;
    entry.phase = DatabasePhase::Deleting;
    let view = database_view(&key, entry);
    let incarnation = entry.incarnation;
    if state.provision_delay.is_zero() && !uses_provisioner(&state, &entry.spec) {
        // Nothing to deprovision: gone at once, so a GET right after the 202 answers 404.
        store.databases.remove(&key);
    } else if start {
        drop(store);
        tokio::spawn(deprovision(state.clone(), key, incarnation));
    }
    let mut response = json(StatusCode::ACCEPTED, &view);
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        work_retry_after(&state).into(),
    );
    Ok(response)
}

/// Background deprovisioning: after the delay, drop the real database (retrying a few times),
/// then forget it.
async fn deprovision(state: Arc<AppState>, key: ObjectKey, incarnation: u64) {
    tokio::time::sleep(state.provision_delay).await;
    let found = state.store.lock().ok().and_then(|store| {
        store
            .databases
            .get(&key)
            .filter(|e| e.incarnation == incarnation)
            .map(|e| (e.work.clone(), e.spec.clone(), e.username.clone()))
    });
    let Some((work, spec, username)) = found else {
        return;
    };
    let _working = work.lock().await;
    if let (Some(provisioner), Engine::PostgreSQL) = (&state.provisioner, spec.engine) {
        let mut attempt = 0;
        while let Err(message) = provisioner
            .deprovision(&spec.database_name, &username)
            .await
        {
            attempt += 1;
            tracing::warn!(database = %spec.database_name, %message, attempt, "deprovisioning failed");
            if let Ok(mut store) = state.store.lock()
                && let Some(entry) = store.databases.get_mut(&key)
            {
                entry.message = Some(format!("deprovisioning failed, retrying: {message}"));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    if let Ok(mut store) = state.store.lock()
        && store
            .databases
            .get(&key)
            .is_some_and(|e| e.incarnation == incarnation)
    {
        store.databases.remove(&key);
    }
}

async fn rotate_database_credentials(
    State(state): State<Arc<AppState>>,
    params: Params,
    owner: OwnerParam,
) -> Result<Response, ApiError> {
    let [ns, name] = names(params, ["ns", "name"])?;
    let owner = ownership::claimed(owner)?;
    let key = (ns, name);
    let password = random_string(32);
    let (work, username, apply) = {
        let mut store = lock(&state)?;
        let entry = store.databases.get_mut(&key).ok_or_else(|| {
            ApiError::not_found(format!("database {}/{} not found", key.0, key.1))
        })?;
        let what = format!("database {}/{}", key.0, key.1);
        ownership::check(entry.owner.as_deref(), owner.as_deref(), &what)?;
        if entry.phase == DatabasePhase::Deleting {
            return Err(ApiError::conflict(
                "the database is being deleted",
                Vec::new(),
            ));
        }
        entry.password = SecretString::from(password.clone());
        entry.password_version += 1;
        // While provisioning, the background task applies the newest password itself.
        let apply = entry.phase == DatabasePhase::Ready && uses_provisioner(&state, &entry.spec);
        (entry.work.clone(), entry.username.clone(), apply)
    };
    if apply && let Some(provisioner) = &state.provisioner {
        let _working = work.lock().await;
        provisioner
            .set_password(&username, &SecretString::from(password.clone()))
            .await
            .map_err(|message| {
                ApiError::internal(format!("failed to set the new password: {message}"))
            })?;
    }
    Ok(json(
        StatusCode::OK,
        &DatabaseCredentials { username, password },
    ))
}

async fn list_databases(
    State(state): State<Arc<AppState>>,
    params: Params,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let [ns] = names(params, ["ns"])?;
    let (limit, after) = page_params(query)?;
    let store = lock(&state)?;
    let list = page(&store.databases, &ns, limit, &after, database_view);
    Ok(json(StatusCode::OK, &list))
}

async fn get_stats(State(state): State<Arc<AppState>>) -> Response {
    json(StatusCode::OK, &state.stats())
}
