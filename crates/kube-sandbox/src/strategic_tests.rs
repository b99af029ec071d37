//! Unit tests of strategic merge patch: list merging by merge key, the directives, ordering and
//! kube-apiserver's error codes.

use serde_json::{Value, json};

use super::{Node, annotate_schemas, apply};

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "finalizers": ["a"], "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "app:1",
                            "args": ["--a", "--b"],
                            "ports": [{"containerPort": 80, "name": "http"}],
                            "env": [{"name": "A", "value": "1"}],
                            "resources": {"limits": {"cpu": "1"}},
                        },
                        {"name": "sidecar", "image": "side:1"},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                },
            },
        },
    })
}

fn patched(original: Value, patch: Value) -> Value {
    apply(Node::Deployment, original, &patch).expect("patch applies")
}

fn containers(object: &Value) -> &Vec<Value> {
    object["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
}

fn names(items: &[Value]) -> Vec<&str> {
    items.iter().filter_map(|c| c["name"].as_str()).collect()
}

#[test]
fn kubectl_apply_patch_changes_one_container_and_keeps_the_rest() {
    // What client-side `kubectl apply` sends for an image change and an added env var.
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
        "containers": [{
            "$setElementOrder/env": [{"name": "A"}, {"name": "B"}],
            "name": "app",
            "image": "app:2",
            "env": [{"name": "B", "value": "2"}],
        }],
    }}}});
    let result = patched(deployment(), patch);
    let list = containers(&result);
    assert_eq!(names(list), ["app", "sidecar"]);
    assert_eq!(list[0]["image"], "app:2");
    assert_eq!(list[0]["args"], json!(["--a", "--b"]));
    assert_eq!(
        list[0]["ports"],
        json!([{"containerPort": 80, "name": "http"}])
    );
    assert_eq!(list[0]["resources"], json!({"limits": {"cpu": "1"}}));
    assert_eq!(
        list[0]["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
    );
    assert_eq!(list[1], json!({"name": "sidecar", "image": "side:1"}));
    // No directive is stored.
    assert!(!result.to_string().contains('$'), "{result}");
}

#[test]
fn merge_lists_append_new_elements_and_merge_by_key() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "ports": [{"containerPort": 443, "name": "https"}]},
        {"name": "third", "image": "t:1"},
    ]}}}});
    let result = patched(deployment(), patch);
    let list = containers(&result);
    // Without `$setElementOrder`, elements keep the patch's order among themselves and a new
    // element goes before the object's elements the patch did not name.
    assert_eq!(names(list), ["app", "third", "sidecar"]);
    assert_eq!(
        list[0]["ports"],
        json!([{"containerPort": 443, "name": "https"}, {"containerPort": 80, "name": "http"}])
    );
    assert_eq!(list[0]["image"], "app:1");
}

#[test]
fn lists_without_a_strategy_are_replaced() {
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "args": ["--c"]},
    ]}}}});
    let result = patched(deployment(), patch);
    assert_eq!(containers(&result)[0]["args"], json!(["--c"]));
    let role = json!({"kind": "Role", "rules": [{"verbs": ["get"]}, {"verbs": ["list"]}]});
    let result = apply(
        Node::Object,
        role,
        &json!({"rules": [{"verbs": ["watch"]}]}),
    )
    .expect("patch applies");
    assert_eq!(result["rules"], json!([{"verbs": ["watch"]}]));
}

#[test]
fn finalizers_merge_as_a_set_and_delete_from_primitive_list() {
    let once = patched(deployment(), json!({"metadata": {"finalizers": ["b"]}}));
    assert_eq!(once["metadata"]["finalizers"], json!(["b", "a"]));
    let twice = patched(once, json!({"metadata": {"finalizers": ["c", "a"]}}));
    assert_eq!(twice["metadata"]["finalizers"], json!(["c", "b", "a"]));
    let removed = patched(
        twice,
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "zz"]}}),
    );
    assert_eq!(removed["metadata"]["finalizers"], json!(["c", "b"]));
    // Merging the same set again changes nothing but the order the patch gives.
    let again = patched(
        removed.clone(),
        json!({"metadata": {"finalizers": ["b", "c"]}}),
    );
    assert_eq!(again["metadata"]["finalizers"], json!(["b", "c"]));
    assert_eq!(removed["metadata"]["labels"], json!({"app": "web"}));
}

#[test]
fn owner_references_merge_by_uid() {
    let object = json!({"metadata": {"ownerReferences": [
        {"uid": "1", "name": "one", "kind": "X", "apiVersion": "v1"},
    ]}});
    let result = apply(
        Node::Object,
        object,
        &json!({"metadata": {"ownerReferences": [
            {"uid": "2", "name": "two", "kind": "X", "apiVersion": "v1"},
            {"uid": "1", "controller": true},
        ]}}),
    )
    .expect("patch applies");
    let refs = &result["metadata"]["ownerReferences"];
    assert_eq!(refs.as_array().map(Vec::len), Some(2));
    assert_eq!(refs[0]["uid"], "2");
    assert_eq!(refs[1]["uid"], "1");
    assert_eq!(refs[1]["name"], "one");
    assert_eq!(refs[1]["controller"], true);
}

#[test]
fn patch_directives_delete_and_replace_elements_and_maps() {
    let deleted = patched(
        deployment(),
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "sidecar", "$patch": "delete"},
        ]}}}}),
    );
    assert_eq!(names(containers(&deleted)), ["app"]);

    let replaced = patched(
        deployment(),
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "only", "image": "o:1"},
            {"$patch": "replace"},
        ]}}}}),
    );
    assert_eq!(
        containers(&replaced),
        &vec![json!({"name": "only", "image": "o:1"})]
    );

    let map_replaced = patched(
        deployment(),
        json!({"metadata": {"labels": {"$patch": "replace", "tier": "front"}}}),
    );
    assert_eq!(map_replaced["metadata"]["labels"], json!({"tier": "front"}));

    let map_deleted = patched(
        deployment(),
        json!({"metadata": {"labels": {"$patch": "delete"}}}),
    );
    assert_eq!(map_deleted["metadata"]["labels"], json!({}));
}

#[test]
fn retain_keys_clears_what_the_patch_does_not_keep() {
    let result = patched(
        deployment(),
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
    );
    assert_eq!(result["spec"]["strategy"], json!({"type": "Recreate"}));
    let error = apply(
        Node::Deployment,
        deployment(),
        &json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}),
    )
    .expect_err("a patched key outside $retainKeys");
    assert_eq!((error.code, error.reason), (400, "BadRequest"));
    assert_eq!(error.message, "invalid patch format of retainKeys");
}

#[test]
fn nulls_delete_fields_and_are_dropped_where_nothing_is_deleted() {
    let result = patched(
        deployment(),
        json!({"spec": {"replicas": null, "paused": {"x": null, "y": 1}}}),
    );
    assert!(result["spec"].get("replicas").is_none());
    assert_eq!(result["spec"]["paused"], json!({"y": 1}));
}

#[test]
fn set_element_order_reorders_and_places_new_elements() {
    let result = patched(
        deployment(),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "new"}, {"name": "app"}],
            "containers": [{"name": "new", "image": "n:1"}],
        }}}}),
    );
    assert_eq!(names(containers(&result)), ["sidecar", "new", "app"]);

    let object = json!({"metadata": {"finalizers": ["a", "b", "c"]}});
    let result = apply(
        Node::Object,
        object,
        &json!({"metadata": {"$setElementOrder/finalizers": ["c", "a"], "finalizers": ["c"]}}),
    )
    .expect("patch applies");
    // The listed elements in the listed order; `b`, which the list leaves out, before `c` as
    // in the object.
    assert_eq!(result["metadata"]["finalizers"], json!(["b", "c", "a"]));
}

#[test]
fn service_ports_merge_by_port_and_conditions_by_type() {
    let service = json!({
        "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]},
        "status": {"conditions": [{"type": "A", "status": "True"}]},
    });
    let result = apply(
        Node::Service,
        service,
        &json!({
            "spec": {"ports": [{"port": 80, "targetPort": 9090}]},
            "status": {"conditions": [{"type": "B", "status": "False"}]},
        }),
    )
    .expect("patch applies");
    assert_eq!(
        result["spec"]["ports"],
        json!([{"port": 80, "targetPort": 9090}, {"port": 443}])
    );
    assert_eq!(
        result["status"]["conditions"],
        json!([{"type": "B", "status": "False"}, {"type": "A", "status": "True"}])
    );
}

#[test]
fn directives_inside_new_values_are_not_stored() {
    let result = patched(
        json!({"kind": "Deployment", "metadata": {"name": "web"}}),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}],
            "containers": [{"name": "app", "image": "a", "$setElementOrder/env": []}],
        }}}}),
    );
    assert_eq!(
        result["spec"]["template"]["spec"],
        json!({"containers": [{"name": "app", "image": "a"}]})
    );
}

#[test]
fn malformed_patches_answer_like_kube_apiserver() {
    let missing_key = apply(
        Node::Deployment,
        deployment(),
        &json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
    )
    .expect_err("an element without its merge key");
    assert_eq!((missing_key.code, missing_key.reason), (500, ""));
    assert!(
        missing_key
            .message
            .ends_with("does not contain declared merge key: name"),
        "{}",
        missing_key.message
    );

    let merge_directive = apply(
        Node::Deployment,
        deployment(),
        &json!({"spec": {"template": {"spec": {"containers": [{"$patch": "merge"}]}}}}),
    )
    .expect_err("$patch: merge in a list");
    assert_eq!(
        merge_directive.message,
        "merging lists cannot yet be specified in the patch"
    );

    let unknown = apply(
        Node::Deployment,
        deployment(),
        &json!({"metadata": {"$patch": "bogus"}}),
    )
    .expect_err("unknown $patch");
    assert_eq!(unknown.code, 500);
    assert!(unknown.message.starts_with("unknown patch type: \"bogus\""));

    let not_a_map = apply(Node::Object, json!({}), &json!([1])).expect_err("array patch");
    assert_eq!((not_a_map.code, not_a_map.reason), (400, "BadRequest"));

    let out_of_order = apply(
        Node::Deployment,
        deployment(),
        &json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}],
            "containers": [{"name": "sidecar", "image": "s:2"}],
        }}}}),
    )
    .expect_err("patch element missing from $setElementOrder");
    assert_eq!(out_of_order.code, 500);
}

/// Cases from apimachinery's own strategic merge tests, on fields with the same strategies
/// (`containers` merges by name like their `mergingList`, `finalizers` like `mergingIntList`).
#[test]
fn cases_kube_apiserver_pins_down() {
    let pod =
        |containers: Value| json!({"spec": {"template": {"spec": {"containers": containers}}}});
    let run = |original: Value, patch: Value| {
        let result = patched(pod(original), pod(patch));
        result["spec"]["template"]["spec"]["containers"].clone()
    };
    assert_eq!(
        run(
            json!([{"name": "1"}, {"name": "2", "image": "b"}, {"name": "3"}]),
            json!([{"name": "3", "image": "c"}, {"name": "1", "image": "a"}]),
        ),
        json!([{"name": "2", "image": "b"}, {"name": "3", "image": "c"}, {"name": "1", "image": "a"}])
    );
    assert_eq!(
        run(
            json!([{"name": "1"}, {"name": "1"}, {"name": "2", "image": "a"}, {"name": "3"}, {"name": "3"}]),
            json!([{"name": "1", "$patch": "delete"}, {"name": "3", "$patch": "delete"}]),
        ),
        json!([{"name": "2", "image": "a"}])
    );
    assert_eq!(
        run(
            json!([{"name": "1"}, {"name": "2"}]),
            json!([{"$patch": "replace"}])
        ),
        json!([])
    );
    let scalars = apply(
        Node::Object,
        json!({"metadata": {"finalizers": ["1", "2"]}}),
        &json!({"metadata": {"finalizers": ["2", "3"]}}),
    )
    .expect("patch applies");
    assert_eq!(scalars["metadata"]["finalizers"], json!(["1", "2", "3"]));
    let whole = apply(
        Node::Object,
        json!({"name": "1", "value": "1"}),
        &json!({"other": "a", "$patch": "replace"}),
    )
    .expect("patch applies");
    assert_eq!(whole, json!({"other": "a"}));
}

#[test]
fn openapi_schemas_get_kube_apiserver_patch_extensions() {
    let mut components = serde_json::Map::new();
    components.insert(
        "io.k8s.api.core.v1.PodSpec".into(),
        json!({"properties": {"containers": {"type": "array"}, "volumes": {"type": "array"}, "tolerations": {"type": "array"}}}),
    );
    components.insert(
        "io.k8s.api.core.v1.Container".into(),
        json!({"properties": {"ports": {}, "volumeMounts": {}, "args": {}}}),
    );
    components.insert(
        "io.k8s.api.apps.v1.DeploymentSpec".into(),
        json!({"properties": {"strategy": {"$ref": "#/components/schemas/x"}}}),
    );
    annotate_schemas(&mut components);
    let pod = &components["io.k8s.api.core.v1.PodSpec"]["properties"];
    assert_eq!(pod["containers"]["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(pod["containers"]["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(
        pod["volumes"]["x-kubernetes-patch-strategy"],
        "merge,retainKeys"
    );
    assert_eq!(pod["tolerations"], json!({"type": "array"}));
    let container = &components["io.k8s.api.core.v1.Container"]["properties"];
    assert_eq!(
        container["ports"]["x-kubernetes-patch-merge-key"],
        "containerPort"
    );
    assert_eq!(
        container["volumeMounts"]["x-kubernetes-patch-merge-key"],
        "mountPath"
    );
    assert_eq!(container["args"], json!({}));
    let spec = &components["io.k8s.api.apps.v1.DeploymentSpec"]["properties"];
    assert_eq!(
        spec["strategy"]["x-kubernetes-patch-strategy"],
        "retainKeys"
    );
    assert!(
        spec["strategy"]
            .get("x-kubernetes-patch-merge-key")
            .is_none()
    );
}
