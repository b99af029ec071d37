//! OpenAPI documents (v2 at `/openapi/v2`, v3 at `/openapi/v3` and
//! `/openapi/v3/{api|apis/group}/{version}`) that `kubectl apply` and `kubectl explain` read.
//! Served through `discovery::handle`.
//!
//! What kubectl relies on: each group-version document has a PATCH operation per kind carrying
//! `x-kubernetes-group-version-kind` and a `fieldValidation` query parameter (otherwise `kubectl
//! apply` falls back to client-side validation), the request body content types (strategic merge
//! only for built-in kinds, so kubectl sends JSON merge patches for custom resources), and
//! component schemas tagged with their group/version/kind (what `kubectl explain` walks).
//! Built-in schemas come from k8s-openapi's `schemars` implementations, with kube-apiserver's
//! `x-kubernetes-patch-strategy`/`x-kubernetes-patch-merge-key` added from `strategic.rs` (what
//! client-side `kubectl apply` computes its patches from); custom resources publish their CRD's
//! `openAPIV3Schema`.
//!
//! `/openapi/v2` is served as JSON only. kubectl asks for it in protobuf, and only as a fallback
//! it tolerates losing (a 404 here keeps it on OpenAPI v3).

use std::collections::{BTreeSet, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::coordination::v1 as coordination;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::events::v1 as events;
use k8s_openapi::api::rbac::v1 as rbac;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use super::registry::ResourceType;
use super::served_api::{DiscoveryResponse, GIT_VERSION, groups};

const SCHEMA_PREFIX: &str = "#/components/schemas/";
const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
const PROTOBUF_V2: &str = "application/com.github.proto-openapi.spec.v2";

/// Answers `/openapi/{rest}`.
pub(crate) fn handle(
    types: &[ResourceType],
    rest: &[&str],
    accept: Option<&str>,
) -> Option<DiscoveryResponse> {
    match rest {
        ["v3"] => Some(DiscoveryResponse::json(&v3_index(types))),
        ["v3", "api", version] => {
            v3_document(types, "", version).map(|d| DiscoveryResponse::json(&d))
        }
        ["v3", "apis", group, version] => {
            v3_document(types, group, version).map(|d| DiscoveryResponse::json(&d))
        }
        ["v2"] if accepts_json(accept) => Some(DiscoveryResponse::json(&v2_document(types))),
        _ => None,
    }
}

/// Whether the client takes JSON (kubectl asks `/openapi/v2` for protobuf only).
fn accepts_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return true;
    };
    accept.split(',').any(|range| {
        let media_type = range.split(';').next().unwrap_or_default().trim();
        !media_type.starts_with(PROTOBUF_V2)
            && (media_type.eq_ignore_ascii_case("application/json")
                || media_type == "*/*"
                || media_type == "application/*")
    })
}

/// `api/v1` or `apis/{group}/{version}`: a group version's key in the v3 index.
fn group_version_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The `/openapi/v3` index: one entry per served group version, each URL carrying a hash of the
/// document so clients that cache by URL notice changes (a CRD added or edited).
fn v3_index(types: &[ResourceType]) -> Value {
    let mut paths = Map::new();
    for (group, versions) in groups(types) {
        for version in versions {
            let Some(document) = v3_document(types, &group, &version) else {
                continue;
            };
            let mut hasher = DefaultHasher::new();
            document.to_string().hash(&mut hasher);
            let path = group_version_path(&group, &version);
            paths.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={:016X}", hasher.finish())}),
            );
        }
    }
    json!({"paths": paths})
}

/// The OpenAPI v3 document of one group version, `None` when nothing is served there.
fn v3_document(types: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let served: Vec<&ResourceType> = types
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let builtins = builtin_schemas();
    let mut schemas = Map::new();
    let mut paths = Map::new();
    for resource_type in &served {
        let (kind_name, list_name) = component_names(resource_type);
        let kind_schema = match (
            &resource_type.schema,
            builtins.kinds.get(&kind_key(resource_type)),
        ) {
            (Some(schema), _) => custom_resource_schema(schema, &builtins.common),
            (None, Some(name)) => builtins
                .components
                .get(name)
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"})),
            (None, None) => json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        };
        schemas.insert(
            kind_name.clone(),
            with_gvk(kind_schema, resource_type, &resource_type.kind),
        );
        schemas.insert(
            list_name.clone(),
            with_gvk(
                list_schema(resource_type, &kind_name, &builtins.common),
                resource_type,
                &resource_type.list_kind,
            ),
        );
        add_paths(&mut paths, resource_type, &kind_name, &list_name);
    }
    // Pull in every built-in component the document refers to, transitively.
    let mut pending: Vec<String> = [OBJECT_META, LIST_META, STATUS, DELETE_OPTIONS, PATCH]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for schema in schemas.values() {
        collect_refs(schema, &mut pending);
    }
    let mut seen: HashSet<String> = schemas.keys().cloned().collect();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = builtins.components.get(&name) {
            collect_refs(schema, &mut pending);
            schemas.insert(name, schema.clone());
        }
    }
    let mut names: Vec<String> = schemas.keys().cloned().collect();
    names.sort();
    let schemas: Map<String, Value> = names
        .into_iter()
        .filter_map(|name| schemas.remove(&name).map(|schema| (name, schema)))
        .collect();
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// Component names of a kind and its list, as kube-apiserver names them: the built-in type's
/// Go package path, or the reversed group for custom resources (`dev.portico.v1alpha1.AIModel`).
fn component_names(resource_type: &ResourceType) -> (String, String) {
    let builtins = builtin_schemas();
    if resource_type.schema.is_none()
        && let Some(name) = builtins.kinds.get(&kind_key(resource_type))
    {
        return (name.clone(), format!("{name}List"));
    }
    let reversed: Vec<&str> = resource_type.group.split('.').rev().collect();
    let prefix = if resource_type.group.is_empty() {
        resource_type.version.clone()
    } else {
        format!("{}.{}", reversed.join("."), resource_type.version)
    };
    (
        format!("{prefix}.{}", resource_type.kind),
        format!("{prefix}.{}", resource_type.list_kind),
    )
}

fn kind_key(resource_type: &ResourceType) -> (String, String, String) {
    (
        resource_type.group.clone(),
        resource_type.version.clone(),
        resource_type.kind.clone(),
    )
}

fn with_gvk(mut schema: Value, resource_type: &ResourceType, kind: &str) -> Value {
    if let Value::Object(fields) = &mut schema {
        fields.insert(
            "x-kubernetes-group-version-kind".into(),
            json!([{"group": resource_type.group, "version": resource_type.version, "kind": kind}]),
        );
    }
    schema
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("{SCHEMA_PREFIX}{name}")})
}

/// A CRD's schema as published: its `openAPIV3Schema` plus `apiVersion`, `kind` and `metadata`.
fn custom_resource_schema(schema: &Value, common: &CommonDescriptions) -> Value {
    let mut schema = schema.clone();
    if let Value::Object(fields) = &mut schema {
        fields.entry("type").or_insert_with(|| "object".into());
        let properties = fields
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(properties) = properties {
            properties.insert(
                "apiVersion".into(),
                json!({"type": "string", "description": common.api_version}),
            );
            properties.insert(
                "kind".into(),
                json!({"type": "string", "description": common.kind}),
            );
            properties.insert(
                "metadata".into(),
                json!({"allOf": [reference(OBJECT_META)], "description": common.metadata}),
            );
        }
    }
    schema
}

fn list_schema(
    resource_type: &ResourceType,
    kind_name: &str,
    common: &CommonDescriptions,
) -> Value {
    json!({
        "description": format!("{} is a list of {}", resource_type.list_kind, resource_type.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": common.api_version},
            "items": {
                "description": format!("List of {}.", resource_type.plural),
                "type": "array",
                "items": reference(kind_name),
            },
            "kind": {"type": "string", "description": common.kind},
            "metadata": {"allOf": [reference(LIST_META)], "description": common.list_metadata},
        },
    })
}

/// Pushes the component names `schema` refers to.
fn collect_refs(schema: &Value, names: &mut Vec<String>) {
    match schema {
        Value::Object(fields) => {
            for (key, value) in fields {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => {
                        if let Some(name) = target.strip_prefix(SCHEMA_PREFIX) {
                            names.push(name.to_owned());
                        }
                    }
                    _ => collect_refs(value, names),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, names)),
        _ => {}
    }
}

/// Descriptions kube-apiserver gives the fields every object has, taken from k8s-openapi.
struct CommonDescriptions {
    api_version: String,
    kind: String,
    metadata: String,
    list_metadata: String,
}

/// Schemas of the built-in kinds and of the meta types, computed once.
struct BuiltinSchemas {
    /// Component schemas by name.
    components: Map<String, Value>,
    /// Component name of each built-in kind, by (group, version, kind).
    kinds: std::collections::HashMap<(String, String, String), String>,
    common: CommonDescriptions,
}

fn builtin_schemas() -> &'static BuiltinSchemas {
    static SCHEMAS: OnceLock<BuiltinSchemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let mut generator = SchemaGenerator::new(SchemaSettings::openapi3());
        let mut kinds = std::collections::HashMap::new();
        fn register<T: JsonSchema>(
            generator: &mut SchemaGenerator,
            kinds: &mut std::collections::HashMap<(String, String, String), String>,
            group: &str,
            version: &str,
            kind: &str,
        ) {
            generator.subschema_for::<T>();
            kinds.insert(
                (group.into(), version.into(), kind.into()),
                T::schema_name().into_owned(),
            );
        }
        register::<core::Namespace>(&mut generator, &mut kinds, "", "v1", "Namespace");
        register::<core::Secret>(&mut generator, &mut kinds, "", "v1", "Secret");
        register::<core::ConfigMap>(&mut generator, &mut kinds, "", "v1", "ConfigMap");
        register::<core::Event>(&mut generator, &mut kinds, "", "v1", "Event");
        register::<events::Event>(&mut generator, &mut kinds, "events.k8s.io", "v1", "Event");
        register::<coordination::Lease>(
            &mut generator,
            &mut kinds,
            "coordination.k8s.io",
            "v1",
            "Lease",
        );
        register::<core::ServiceAccount>(&mut generator, &mut kinds, "", "v1", "ServiceAccount");
        register::<core::Service>(&mut generator, &mut kinds, "", "v1", "Service");
        register::<apps::Deployment>(&mut generator, &mut kinds, "apps", "v1", "Deployment");
        let rbac_group = "rbac.authorization.k8s.io";
        register::<rbac::ClusterRole>(&mut generator, &mut kinds, rbac_group, "v1", "ClusterRole");
        register::<rbac::ClusterRoleBinding>(
            &mut generator,
            &mut kinds,
            rbac_group,
            "v1",
            "ClusterRoleBinding",
        );
        register::<rbac::Role>(&mut generator, &mut kinds, rbac_group, "v1", "Role");
        register::<rbac::RoleBinding>(&mut generator, &mut kinds, rbac_group, "v1", "RoleBinding");
        register::<apiextensions::CustomResourceDefinition>(
            &mut generator,
            &mut kinds,
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
        );
        generator.subschema_for::<meta::ObjectMeta>();
        generator.subschema_for::<meta::ListMeta>();
        generator.subschema_for::<meta::Status>();
        generator.subschema_for::<meta::DeleteOptions>();
        generator.subschema_for::<meta::Patch>();
        let mut components = generator.take_definitions(true);
        super::strategic::annotate_schemas(&mut components);
        let description = |name: &str, field: &str| {
            components
                .get(name)
                .and_then(|schema| schema.pointer(&format!("/properties/{field}/description")))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let common = CommonDescriptions {
            api_version: description("io.k8s.api.core.v1.Secret", "apiVersion"),
            kind: description("io.k8s.api.core.v1.Secret", "kind"),
            metadata: description("io.k8s.api.core.v1.Secret", "metadata"),
            list_metadata: description(STATUS, "metadata"),
        };
        BuiltinSchemas {
            components,
            kinds,
            common,
        }
    })
}

/// Adds the REST paths of one resource type, with the operations its verbs allow.
fn add_paths(
    paths: &mut Map<String, Value>,
    resource_type: &ResourceType,
    kind_name: &str,
    list_name: &str,
) {
    let base = format!(
        "/{}",
        group_version_path(&resource_type.group, &resource_type.version)
    );
    let collection = if resource_type.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", resource_type.plural)
    } else {
        format!("{base}/{}", resource_type.plural)
    };
    let item = format!("{collection}/{{name}}");
    let verbs: BTreeSet<&str> = resource_type.verbs.iter().map(String::as_str).collect();
    let operation = |action: &str, verb_name: &str, scope: &str| Operation {
        resource_type,
        action: action.to_owned(),
        operation_id: format!(
            "{verb_name}{}{scope}{}",
            operation_group(&resource_type.group, &resource_type.version),
            resource_type.kind
        ),
    };
    let namespaced = if resource_type.namespaced {
        "Namespaced"
    } else {
        ""
    };

    let mut collection_ops = Map::new();
    if verbs.contains("list") {
        collection_ops.insert(
            "get".into(),
            operation("list", "list", namespaced).render(Some(list_name), None, LIST_PARAMETERS),
        );
    }
    if verbs.contains("create") {
        collection_ops.insert(
            "post".into(),
            operation("post", "create", namespaced).render(
                Some(kind_name),
                Some(kind_name),
                WRITE_PARAMETERS,
            ),
        );
    }
    if verbs.contains("deletecollection") {
        collection_ops.insert(
            "delete".into(),
            operation("deletecollection", "deleteCollection", namespaced).render(
                Some(STATUS),
                Some(DELETE_OPTIONS),
                LIST_PARAMETERS,
            ),
        );
    }
    insert_path(
        paths,
        &collection,
        collection_ops,
        resource_type.namespaced,
        false,
    );

    let mut item_ops = Map::new();
    if verbs.contains("get") {
        item_ops.insert(
            "get".into(),
            operation("get", "read", namespaced).render(Some(kind_name), None, &[]),
        );
    }
    if verbs.contains("update") {
        item_ops.insert(
            "put".into(),
            operation("put", "replace", namespaced).render(
                Some(kind_name),
                Some(kind_name),
                WRITE_PARAMETERS,
            ),
        );
    }
    if verbs.contains("patch") {
        item_ops.insert(
            "patch".into(),
            operation("patch", "patch", namespaced).render_patch(kind_name),
        );
    }
    if verbs.contains("delete") {
        item_ops.insert(
            "delete".into(),
            operation("delete", "delete", namespaced).render(
                Some(kind_name),
                Some(DELETE_OPTIONS),
                DELETE_PARAMETERS,
            ),
        );
    }
    insert_path(paths, &item, item_ops, resource_type.namespaced, true);

    if resource_type.status_subresource {
        let mut status_ops = Map::new();
        status_ops.insert(
            "get".into(),
            operation("get", "read", namespaced)
                .status()
                .render(Some(kind_name), None, &[]),
        );
        status_ops.insert(
            "put".into(),
            operation("put", "replace", namespaced).status().render(
                Some(kind_name),
                Some(kind_name),
                WRITE_PARAMETERS,
            ),
        );
        status_ops.insert(
            "patch".into(),
            operation("patch", "patch", namespaced)
                .status()
                .render_patch(kind_name),
        );
        insert_path(
            paths,
            &format!("{item}/status"),
            status_ops,
            resource_type.namespaced,
            true,
        );
    }

    if resource_type.namespaced && verbs.contains("list") {
        let mut all_ops = Map::new();
        all_ops.insert(
            "get".into(),
            Operation {
                resource_type,
                action: "list".into(),
                operation_id: format!(
                    "list{}{}ForAllNamespaces",
                    operation_group(&resource_type.group, &resource_type.version),
                    resource_type.kind
                ),
            }
            .render(Some(list_name), None, LIST_PARAMETERS),
        );
        insert_path(
            paths,
            &format!("{base}/{}", resource_type.plural),
            all_ops,
            false,
            false,
        );
    }
}

fn insert_path(
    paths: &mut Map<String, Value>,
    path: &str,
    mut operations: Map<String, Value>,
    namespaced: bool,
    named: bool,
) {
    if operations.is_empty() {
        return;
    }
    let mut parameters = Vec::new();
    if named {
        parameters.push(path_parameter("name", "name of the object"));
    }
    if namespaced {
        parameters.push(path_parameter(
            "namespace",
            "object name and auth scope, such as for teams and projects",
        ));
    }
    parameters.push(query_parameter(
        "pretty",
        "If 'true', then the output is pretty printed.",
    ));
    operations.insert("parameters".into(), Value::Array(parameters));
    paths.insert(path.to_owned(), Value::Object(operations));
}

/// `CoreV1`, `PorticoDevV1alpha1`: the group-version part of kube's operation ids.
fn operation_group(group: &str, version: &str) -> String {
    let mut name = String::new();
    let group_name = if group.is_empty() { "core" } else { group };
    for word in group_name.split(['.', '-']) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.extend(first.to_uppercase());
            name.push_str(chars.as_str());
        }
    }
    let mut chars = version.chars();
    if let Some(first) = chars.next() {
        name.extend(first.to_uppercase());
        name.push_str(chars.as_str());
    }
    name
}

const LIST_PARAMETERS: &[(&str, &str, &str)] = &[
    (
        "allowWatchBookmarks",
        "boolean",
        "Ask for BOOKMARK events on watches.",
    ),
    (
        "continue",
        "string",
        "Continue token of a previous paged list.",
    ),
    (
        "fieldSelector",
        "string",
        "Restrict the returned objects by their fields.",
    ),
    (
        "labelSelector",
        "string",
        "Restrict the returned objects by their labels.",
    ),
    (
        "limit",
        "integer",
        "Maximum number of objects to return in one page.",
    ),
    (
        "resourceVersion",
        "string",
        "Resource version the list or watch starts from.",
    ),
    (
        "resourceVersionMatch",
        "string",
        "How resourceVersion applies to lists.",
    ),
    (
        "sendInitialEvents",
        "boolean",
        "Start a watch with synthetic ADDED events for current objects.",
    ),
    (
        "timeoutSeconds",
        "integer",
        "Timeout of the list or watch call.",
    ),
    ("watch", "boolean", "Watch for changes instead of listing."),
];

const WRITE_PARAMETERS: &[(&str, &str, &str)] = &[
    (
        "dryRun",
        "string",
        "When present (`All`), modifications are not persisted.",
    ),
    (
        "fieldManager",
        "string",
        "Name of the actor making the change, recorded in managedFields.",
    ),
    (
        "fieldValidation",
        "string",
        "How unknown and duplicate fields are handled: Ignore, Warn or Strict.",
    ),
];

const PATCH_PARAMETERS: &[(&str, &str, &str)] = &[
    (
        "dryRun",
        "string",
        "When present (`All`), modifications are not persisted.",
    ),
    (
        "fieldManager",
        "string",
        "Name of the actor making the change; required for apply patches.",
    ),
    (
        "fieldValidation",
        "string",
        "How unknown and duplicate fields are handled: Ignore, Warn or Strict.",
    ),
    (
        "force",
        "boolean",
        "Take ownership of conflicting fields on apply patches.",
    ),
];

const DELETE_PARAMETERS: &[(&str, &str, &str)] = &[
    (
        "dryRun",
        "string",
        "When present (`All`), modifications are not persisted.",
    ),
    (
        "gracePeriodSeconds",
        "integer",
        "Seconds before the object is deleted.",
    ),
    (
        "propagationPolicy",
        "string",
        "Garbage collection of dependents: Orphan, Background or Foreground.",
    ),
];

fn query_parameter(name: &str, description: &str) -> Value {
    query_parameter_typed(name, "string", description)
}

fn query_parameter_typed(name: &str, type_: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": type_, "uniqueItems": true},
    })
}

fn path_parameter(name: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": "path",
        "description": description,
        "required": true,
        "schema": {"type": "string", "uniqueItems": true},
    })
}

struct Operation<'a> {
    resource_type: &'a ResourceType,
    action: String,
    operation_id: String,
}

impl Operation<'_> {
    fn status(mut self) -> Self {
        self.operation_id.push_str("Status");
        self
    }

    fn base(&self, parameters: &[(&str, &str, &str)]) -> Map<String, Value> {
        let mut operation = Map::new();
        operation.insert(
            "tags".into(),
            json!([operation_group(
                &self.resource_type.group,
                &self.resource_type.version
            )]),
        );
        operation.insert("operationId".into(), self.operation_id.clone().into());
        if !parameters.is_empty() {
            let parameters: Vec<Value> = parameters
                .iter()
                .map(|(name, type_, description)| query_parameter_typed(name, type_, description))
                .collect();
            operation.insert("parameters".into(), Value::Array(parameters));
        }
        operation.insert("x-kubernetes-action".into(), self.action.clone().into());
        operation.insert(
            "x-kubernetes-group-version-kind".into(),
            json!({
                "group": self.resource_type.group,
                "version": self.resource_type.version,
                "kind": self.resource_type.kind,
            }),
        );
        operation
    }

    fn render(
        &self,
        response: Option<&str>,
        body: Option<&str>,
        parameters: &[(&str, &str, &str)],
    ) -> Value {
        let mut operation = self.base(parameters);
        if let Some(body) = body {
            operation.insert(
                "requestBody".into(),
                json!({"content": {"*/*": {"schema": reference(body)}}, "required": true}),
            );
        }
        operation.insert(
            "responses".into(),
            responses(response, self.action == "post"),
        );
        Value::Object(operation)
    }

    fn render_patch(&self, kind_name: &str) -> Value {
        let mut operation = self.base(PATCH_PARAMETERS);
        let mut content = Map::new();
        let mut patch_types = vec![
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json",
        ];
        // kube-apiserver refuses strategic merge patches of custom resources and says so here.
        if self.resource_type.crd_name.is_none() {
            patch_types.push("application/strategic-merge-patch+json");
        }
        for patch_type in patch_types {
            content.insert(patch_type.into(), json!({"schema": reference(PATCH)}));
        }
        operation.insert(
            "requestBody".into(),
            json!({"content": content, "required": true}),
        );
        operation.insert("responses".into(), responses(Some(kind_name), true));
        Value::Object(operation)
    }
}

fn responses(kind_name: Option<&str>, created: bool) -> Value {
    let mut responses = Map::new();
    if let Some(kind_name) = kind_name {
        let body = json!({
            "description": "OK",
            "content": {
                "application/json": {"schema": reference(kind_name)},
                "application/yaml": {"schema": reference(kind_name)},
            },
        });
        responses.insert("200".into(), body.clone());
        if created {
            let mut created_body = body;
            created_body["description"] = "Created".into();
            responses.insert("201".into(), created_body);
        }
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    Value::Object(responses)
}

/// A Swagger 2.0 rendering of every group version (for clients that still read `/openapi/v2`):
/// the v3 component schemas as definitions, and the v3 paths without request bodies.
fn v2_document(types: &[ResourceType]) -> Value {
    let mut definitions = Map::new();
    let mut paths = Map::new();
    for (group, versions) in groups(types) {
        for version in versions {
            let Some(document) = v3_document(types, &group, &version) else {
                continue;
            };
            if let Some(Value::Object(schemas)) = document.pointer("/components/schemas") {
                for (name, schema) in schemas {
                    definitions.insert(name.clone(), to_v2_schema(schema));
                }
            }
            if let Some(Value::Object(document_paths)) = document.get("paths") {
                for (path, operations) in document_paths {
                    paths.insert(path.clone(), to_v2_path(operations));
                }
            }
        }
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "definitions": definitions,
    })
}

fn to_v2_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(fields) => {
            let mut converted = Map::new();
            for (key, value) in fields {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => {
                        let target = target.replace(SCHEMA_PREFIX, "#/definitions/");
                        converted.insert(key.clone(), target.into());
                    }
                    ("nullable", _) => {
                        converted.insert("x-nullable".into(), value.clone());
                    }
                    _ => {
                        converted.insert(key.clone(), to_v2_schema(value));
                    }
                }
            }
            Value::Object(converted)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_v2_schema).collect()),
        other => other.clone(),
    }
}

fn to_v2_path(operations: &Value) -> Value {
    let Value::Object(operations) = operations else {
        return operations.clone();
    };
    let mut converted = Map::new();
    for (method, operation) in operations {
        let Value::Object(operation) = operation else {
            converted.insert(method.clone(), operation.clone());
            continue;
        };
        if method == "parameters" {
            converted.insert(
                method.clone(),
                operation_parameters_v2(&Value::Object(operation.clone())),
            );
            continue;
        }
        let mut operation = operation.clone();
        operation.remove("requestBody");
        if let Some(parameters) = operation.get("parameters").cloned() {
            operation.insert("parameters".into(), operation_parameters_v2(&parameters));
        }
        if let Some(Value::Object(responses)) = operation.get("responses").cloned() {
            let responses: Map<String, Value> = responses
                .into_iter()
                .map(|(code, response)| {
                    let schema = response
                        .pointer("/content/application~1json/schema")
                        .map(to_v2_schema);
                    let mut v2 = json!({"description": response.get("description").cloned().unwrap_or_default()});
                    if let Some(schema) = schema {
                        v2["schema"] = schema;
                    }
                    (code, v2)
                })
                .collect();
            operation.insert("responses".into(), Value::Object(responses));
        }
        converted.insert(method.clone(), Value::Object(operation));
    }
    Value::Object(converted)
}

/// Swagger 2.0 parameters carry their type directly instead of in a schema.
fn operation_parameters_v2(parameters: &Value) -> Value {
    let Value::Array(parameters) = parameters else {
        return parameters.clone();
    };
    Value::Array(
        parameters
            .iter()
            .map(|parameter| {
                let mut parameter = parameter.clone();
                if let Value::Object(fields) = &mut parameter
                    && let Some(Value::Object(schema)) = fields.remove("schema")
                {
                    for (key, value) in schema {
                        fields.insert(key, value);
                    }
                }
                parameter
            })
            .collect(),
    )
}

#[cfg(test)]
#[path = "openapi_tests.rs"]
mod tests;
