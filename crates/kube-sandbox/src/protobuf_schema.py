#!/usr/bin/env python3
"""Writes protobuf_schema.txt: the protobuf messages of the built-in kinds the sandbox serves,
with what decoding them into JSON needs from their Go types (JSON names, omitempty, pointers,
inline embedding), read from k8s.io/api and k8s.io/apimachinery sources.

Usage: protobuf_schema.py API_DIR APIMACHINERY_DIR > protobuf_schema.txt
(API_DIR holds core/v1, apps/v1, ...; APIMACHINERY_DIR holds pkg/apis/meta/v1, ...).
"""

import os
import re
import sys

# Kinds kube-apiserver takes in protobuf that the sandbox serves (CRDs excepted: no client sends
# them as protobuf), by apiVersion and kind.
ROOTS = [
    ("v1", "Namespace", "core.v1.Namespace"),
    ("v1", "Secret", "core.v1.Secret"),
    ("v1", "ConfigMap", "core.v1.ConfigMap"),
    ("v1", "Event", "core.v1.Event"),
    ("v1", "ServiceAccount", "core.v1.ServiceAccount"),
    ("v1", "Service", "core.v1.Service"),
    ("events.k8s.io/v1", "Event", "events.v1.Event"),
    ("coordination.k8s.io/v1", "Lease", "coordination.v1.Lease"),
    ("apps/v1", "Deployment", "apps.v1.Deployment"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", "rbac.v1.ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "rbac.v1.ClusterRoleBinding"),
    ("rbac.authorization.k8s.io/v1", "Role", "rbac.v1.Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "rbac.v1.RoleBinding"),
    ("*", "DeleteOptions", "meta.v1.DeleteOptions"),
]

PACKAGES = [
    # (proto package, short prefix, directory key, path)
    ("k8s.io.api.core.v1", "core.v1", "api", "core/v1"),
    ("k8s.io.api.apps.v1", "apps.v1", "api", "apps/v1"),
    ("k8s.io.api.rbac.v1", "rbac.v1", "api", "rbac/v1"),
    ("k8s.io.api.coordination.v1", "coordination.v1", "api", "coordination/v1"),
    ("k8s.io.api.events.v1", "events.v1", "api", "events/v1"),
    ("k8s.io.apimachinery.pkg.apis.meta.v1", "meta.v1", "machinery", "pkg/apis/meta/v1"),
]

# Messages with a JSON form of their own (custom MarshalJSON in Go).
SPECIAL = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "microtime",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": "duration",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": "fieldsv1",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "intorstring",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "raw",
}

SCALARS = {"string", "bytes", "int32", "int64", "bool", "double", "float", "uint32", "uint64"}

FIELD = re.compile(r"^\s*(optional|repeated)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;")
MAP_FIELD = re.compile(r"^\s*map<\s*([\w.]+)\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+)\s*;")
GO_FIELD = re.compile(r"^\s*(?:(\w+)\s+)?([\w.*\[\]]+)\s+`([^`]*)`")


def read(root, path, name):
    with open(f"{root}/{path}/{name}", encoding="utf-8") as handle:
        return handle.read()


def proto_messages(text, package):
    messages = {}
    current = None
    for line in text.splitlines():
        if current is None:
            match = re.match(r"^message (\w+) \{", line)
            if match:
                current = f"{package}.{match.group(1)}"
                messages[current] = []
            continue
        if line.startswith("}"):
            current = None
            continue
        match = MAP_FIELD.match(line)
        if match:
            key, value, name, number = match.groups()
            messages[current].append((int(number), name, "map", key, qualify(value, package)))
            continue
        match = FIELD.match(line)
        if match:
            label, type_, name, number = match.groups()
            messages[current].append((int(number), name, label, None, qualify(type_, package)))
    return messages


def qualify(type_, package):
    if type_ in SCALARS:
        return type_
    if type_.startswith("."):
        return type_[1:]
    return f"{package}.{type_}"


def go_structs(text):
    """Struct name -> {proto field number: (json name, omitempty, pointer, order)}."""
    structs = {}
    current = None
    order = 0
    for line in text.splitlines():
        if current is None:
            match = re.match(r"^type (\w+) struct \{", line)
            if match:
                current = match.group(1)
                structs[current] = {}
                order = 0
            continue
        if line.startswith("}"):
            current = None
            continue
        match = GO_FIELD.match(line)
        if not match:
            continue
        field_name, go_type, tags = match.groups()
        proto = re.search(r'protobuf:"([^"]*)"', tags)
        json_tag = re.search(r'json:"([^"]*)"', tags)
        if not proto or not json_tag:
            continue
        number = proto.group(1).split(",")[1]
        parts = json_tag.group(1).split(",")
        json_name = parts[0]
        if json_name == "-" or not number.isdigit():
            continue
        # An embedded struct without a JSON name has its fields promoted, like `,inline`.
        inline = json_name == "" and ("inline" in parts[1:] or field_name is None)
        omitempty = "omitempty" in parts[1:]
        structs[current][int(number)] = (
            "-" if inline else json_name,
            omitempty,
            go_type.startswith("*"),
            order,
        )
        order += 1
    return structs


def main():
    roots = {"api": sys.argv[1], "machinery": sys.argv[2]}
    messages = {}
    go = {}
    short = {}
    for package, prefix, key, path in PACKAGES:
        messages.update(proto_messages(read(roots[key], path, "generated.proto"), package))
        short[package] = prefix
        structs = {}
        for name in sorted(os.listdir(f"{roots[key]}/{path}")):
            if name.endswith(".go") and not name.endswith("_test.go"):
                structs.update(go_structs(read(roots[key], path, name)))
        for struct, fields in structs.items():
            go[f"{package}.{struct}"] = fields

    def shorten(name):
        for package, prefix in short.items():
            if name.startswith(package + "."):
                return prefix + name[len(package) :]
        return name

    def kind_of(type_):
        if type_ in SCALARS:
            return type_
        if type_ in SPECIAL:
            return "special:" + SPECIAL[type_]
        return "message:" + shorten(type_)

    reachable = []
    seen = set()
    pending = [f"k8s.io.api.{root[2]}" if not root[2].startswith("meta.") else
               f"k8s.io.apimachinery.pkg.apis.{root[2]}" for root in ROOTS]
    while pending:
        name = pending.pop(0)
        if name in seen:
            continue
        seen.add(name)
        if name not in messages:
            raise SystemExit(f"no message {name}")
        reachable.append(name)
        for _, _, _, _, type_ in messages[name]:
            if type_ not in SCALARS and type_ not in SPECIAL:
                pending.append(type_)

    print("# Generated by protobuf_schema.py from k8s.io/api and k8s.io/apimachinery; do not edit.")
    print("# kind <apiVersion|*> <Kind> <message>")
    print("# message <name>, then one line per field in Go struct order:")
    print("#   <number> <json name|- for inline> <single|repeated|map> <type> [omitempty] [pointer]")
    for api_version, kind, message in ROOTS:
        print(f"kind {api_version} {kind} {message}")
    for name in reachable:
        fields = go.get(name)
        if fields is None:
            raise SystemExit(f"no Go struct for {name}")
        print(f"message {shorten(name)}")
        rows = []
        for number, proto_name, label, key, type_ in messages[name]:
            if number not in fields:
                raise SystemExit(f"{name}.{proto_name}: no Go field")
            json_name, omitempty, pointer, order = fields[number]
            if label == "map":
                card = "map"
                if key != "string":
                    raise SystemExit(f"{name}.{proto_name}: map key {key}")
            elif label == "repeated":
                card = "repeated"
            else:
                card = "single"
            flags = (" omitempty" if omitempty else "") + (" pointer" if pointer else "")
            rows.append((order, f"{number} {json_name} {card} {kind_of(type_)}{flags}"))
        for _, row in sorted(rows):
            print(row)


if __name__ == "__main__":
    main()
