//! Unit tests of protobuf body decoding: bodies kubectl 1.32 sent for `kubectl create <kind>`
//! must decode to the JSON `kubectl create <kind> --dry-run=client -o json` prints for the same
//! command (both are Go's encoding of one object).

use serde_json::{Value, json};

use super::{SCHEMA, decode, parse_schema, supports};

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).expect("ASCII");
            u8::from_str_radix(text, 16).expect("hex digit")
        })
        .collect()
}

fn check(body: &str, expected: Value) {
    let decoded = decode(&hex(body)).expect("body decodes");
    assert_eq!(decoded, expected);
}

/// `kubectl create namespace ns1`
#[test]
fn decodes_namespace() {
    check(
        "6b3873000a0f0a02763112094e616d657370616365121b0a130a036e733112001a0022002a0032003800420012001a02
        0a001a002200",
        json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "ns1", "creationTimestamp": null}, "spec": {}, "status": {}}),
    );
}

/// `kubectl create secret generic s1 --from-literal=a=b`
#[test]
fn decodes_secret() {
    check(
        "6b3873000a0c0a0276311206536563726574121e0a120a02733112001a0022002a0032003800420012060a0161120162
        1a001a002200",
        json!({"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s1", "creationTimestamp": null}, "data": {"a": "Yg=="}}),
    );
}

/// `kubectl create configmap c1 --from-literal=a=b`
#[test]
fn decodes_configmap() {
    check(
        "6b3873000a0f0a0276311209436f6e6669674d6170121c0a120a02633112001a0022002a0032003800420012060a0161
        1201621a002200",
        json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "c1", "creationTimestamp": null}, "data": {"a": "b"}}),
    );
}

/// `kubectl create deployment d1 --image=nginx:1 --port=80 --replicas=0`
#[test]
fn decodes_deployment() {
    check(
        "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412b6010a1d0a02643112001a0022002a0032003800
        42005a090a03617070120264311286010800120b0a090a03617070120264311a6d0a1b0a0012001a0022002a00320038
        0042005a090a0361707012026431124e12300a056e67696e7812076e67696e783a312a00320a0a001000185022002a00
        42006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a0100c201002202
        0a00280038001a0c0800100018002000280038001a002200",
        json!({"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "d1", "creationTimestamp": null, "labels": {"app": "d1"}}, "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "d1"}}, "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "d1"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1", "ports": [{"containerPort": 80}], "resources": {}}]}}, "strategy": {}}, "status": {}}),
    );
}

/// `kubectl create service clusterip svc1 --tcp=80:8080`
#[test]
fn decodes_service() {
    check(
        "6b3873000a0d0a027631120753657276696365126c0a210a047376633112001a0022002a003200380042005a0b0a0361
        707012047376633112430a1b0a0738302d38303830120354435018502207080010903f1a002800120b0a036170701204
        737663311a002209436c757374657249503a00420052005a00600068001a020a001a002200",
        json!({"kind": "Service", "apiVersion": "v1", "metadata": {"name": "svc1", "creationTimestamp": null, "labels": {"app": "svc1"}}, "spec": {"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}], "selector": {"app": "svc1"}, "type": "ClusterIP"}, "status": {"loadBalancer": {}}}),
    );
}

/// `kubectl create serviceaccount sa1`
#[test]
fn decodes_serviceaccount() {
    check(
        "6b3873000a140a027631120e536572766963654163636f756e7412150a130a0373613112001a0022002a003200380042
        001a002200",
        json!({"kind": "ServiceAccount", "apiVersion": "v1", "metadata": {"name": "sa1", "creationTimestamp": null}}),
    );
}

/// `kubectl create role r1 --verb=get --resource=configmaps`
#[test]
fn decodes_role() {
    check(
        "6b3873000a240a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f76311204526f6c6512290a120a02
        723112001a0022002a0032003800420012130a0367657412001a0a636f6e6669676d6170731a002200",
        json!({"kind": "Role", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "r1", "creationTimestamp": null}, "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"]}]}),
    );
}

/// `kubectl create rolebinding rb1 --role=r1 --serviceaccount=default:sa1`
#[test]
fn decodes_rolebinding() {
    check(
        "6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b526f6c6542696e64696e
        67125e0a130a0372623112001a0022002a0032003800420012200a0e536572766963654163636f756e7412001a037361
        31220764656661756c741a250a19726261632e617574686f72697a6174696f6e2e6b38732e696f1204526f6c651a0272
        311a002200",
        json!({"kind": "RoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "rb1", "creationTimestamp": null}, "subjects": [{"kind": "ServiceAccount", "name": "sa1", "namespace": "default"}], "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r1"}}),
    );
}

#[test]
fn the_schema_loads_and_covers_the_served_built_in_kinds() {
    let schema = parse_schema(SCHEMA).expect("schema parses");
    assert!(schema.messages.contains_key("core.v1.PodSpec"));
    for (api_version, kind) in [
        ("v1", "Namespace"),
        ("v1", "Secret"),
        ("v1", "ConfigMap"),
        ("v1", "Event"),
        ("v1", "ServiceAccount"),
        ("v1", "Service"),
        ("events.k8s.io/v1", "Event"),
        ("coordination.k8s.io/v1", "Lease"),
        ("apps/v1", "Deployment"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ] {
        assert!(supports(api_version, kind), "{api_version} {kind}");
    }
    assert!(!supports(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition"
    ));
}

#[test]
fn malformed_bodies_are_bad_requests() {
    let no_magic = decode(b"{\"kind\":\"Namespace\"}").expect_err("JSON is not protobuf");
    assert_eq!((no_magic.code, no_magic.reason), (400, "BadRequest"));
    // The namespace body cut short inside ObjectMeta.
    let truncated = decode(&hex(
        "6b3873000a0f0a02763112094e616d657370616365121a0a120a02",
    ))
    .expect_err("truncated");
    assert_eq!(truncated.code, 400);
    // An envelope naming a kind the sandbox does not take as protobuf.
    let unknown = decode(&hex("6b3873000a0a0a0276311204506f6473")).expect_err("unknown kind");
    assert_eq!(unknown.code, 400);
    assert!(unknown.message.contains("\"Pods\""), "{}", unknown.message);
}
