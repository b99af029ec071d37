//! Compiles an `openAPIV3Schema` JSON document into a tree of [`Node`]s once, checking that it is
//! structural the way kube-apiserver checks a CRD (with its error wording), so that validation,
//! defaulting and pruning never re-parse the schema or recompile a regex.

use super::cel_rule::Rule;
use super::formats::StringFormat;
use super::{FieldError, FieldErrorType};
use regex::Regex;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// What `additionalProperties` says.
#[derive(Debug, Clone)]
pub enum Additional {
    /// `additionalProperties: false`.
    Forbidden,
    /// `additionalProperties: true` (only meaningful with preserve-unknown-fields).
    Allowed,
    /// `additionalProperties: {schema}`: map values.
    Schema(Box<Node>),
}

/// `x-kubernetes-list-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    Atomic,
    Set,
    Map,
}

/// The format that survives kube's `StripUnsupportedFormatsPostProcess`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Int32,
    Int64,
    Float,
    Double,
    String(StringFormat),
}

/// One compiled schema node.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// The types a value may have: empty (untyped), one, or `integer,string` for int-or-string.
    pub types: Vec<&'static str>,
    /// `types` joined with `,`, as messages print them.
    pub type_names: String,
    pub nullable: bool,
    pub format: Option<Format>,
    /// The format's name as written in the schema (messages use it).
    pub format_name: String,
    pub enum_values: Vec<Value>,
    pub minimum: Option<f64>,
    pub exclusive_minimum: bool,
    pub maximum: Option<f64>,
    pub exclusive_maximum: bool,
    pub multiple_of: Option<f64>,
    pub min_length: Option<i64>,
    pub max_length: Option<i64>,
    pub pattern: Option<(String, Regex)>,
    pub min_items: Option<i64>,
    pub max_items: Option<i64>,
    pub unique_items: bool,
    pub min_properties: Option<i64>,
    pub max_properties: Option<i64>,
    pub required: Vec<String>,
    pub properties: Vec<(String, Node)>,
    pub property_index: HashMap<String, usize>,
    pub additional: Option<Additional>,
    pub items: Option<Box<Node>>,
    pub all_of: Vec<Node>,
    pub one_of: Vec<Node>,
    pub any_of: Vec<Node>,
    pub not: Option<Box<Node>>,
    pub preserve_unknown_fields: bool,
    pub embedded_resource: bool,
    pub int_or_string: bool,
    pub list_type: Option<ListType>,
    pub list_map_keys: Vec<String>,
    pub default: Option<Value>,
    pub rules: Vec<Rule>,
    /// Whether this node or any below it has `x-kubernetes-validations`.
    pub has_rules_below: bool,
    /// Whether this node or any below it has a `default`.
    pub has_defaults_below: bool,
    /// Whether this node or any below it has list-type set/map semantics to check.
    pub has_list_checks_below: bool,
    /// Whether this node or any below it is an embedded resource.
    pub has_embedded_below: bool,
}

impl Node {
    pub fn property(&self, name: &str) -> Option<&Node> {
        self.property_position(name)
            .and_then(|i| self.properties.get(i))
            .map(|(_, node)| node)
    }

    /// Where a property sits in schema order.
    pub fn property_position(&self, name: &str) -> Option<usize> {
        // A short scan beats hashing for the handful of properties most objects have.
        if self.properties.len() <= 12 {
            return self.properties.iter().position(|(n, _)| n == name);
        }
        self.property_index.get(name).copied()
    }

    /// The schema for a map key that is not a declared property.
    pub fn additional_schema(&self) -> Option<&Node> {
        match &self.additional {
            Some(Additional::Schema(node)) => Some(node),
            _ => None,
        }
    }

    pub fn has_type(&self, name: &str) -> bool {
        self.types.contains(&name)
    }

    /// The single declared type, as CEL messages name it (`sts.Type`).
    pub fn declared_type(&self) -> &'static str {
        if self.int_or_string {
            ""
        } else {
            self.types.first().copied().unwrap_or("")
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Field,
    Item,
    /// Inside anyOf/allOf/oneOf/not: value validations only.
    Junctor,
    /// Inside the junctors of an `x-kubernetes-int-or-string` node, where kube accepts the
    /// `anyOf: [{type: integer}, {type: string}]` pattern.
    IntOrStringJunctor,
}

pub struct Compiler {
    errors: Vec<FieldError>,
}

fn schema_error(
    type_: FieldErrorType,
    field: String,
    bad_value: Option<Value>,
    detail: &str,
) -> FieldError {
    FieldError {
        type_,
        field,
        bad_value,
        detail: detail.to_string(),
    }
}

fn int_of(object: &Map<String, Value>, key: &str) -> Option<i64> {
    object
        .get(key)
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
}

fn float_of(object: &Map<String, Value>, key: &str) -> Option<f64> {
    object.get(key).and_then(Value::as_f64)
}

fn bool_of(object: &Map<String, Value>, key: &str) -> bool {
    object.get(key).and_then(Value::as_bool).unwrap_or(false)
}

const KNOWN_TYPES: [&str; 6] = ["object", "array", "string", "integer", "number", "boolean"];

impl Level {
    fn in_junctor(self) -> bool {
        matches!(self, Level::Junctor | Level::IntOrStringJunctor)
    }
}

impl Compiler {
    pub fn compile_root(schema: &Value, path: &str) -> Result<Node, Vec<FieldError>> {
        let mut compiler = Compiler { errors: Vec::new() };
        let node = compiler.compile(schema, Level::Root, path);
        if compiler.errors.is_empty() {
            Ok(node)
        } else {
            Err(compiler.errors)
        }
    }

    fn error(
        &mut self,
        type_: FieldErrorType,
        field: String,
        bad_value: Option<Value>,
        detail: &str,
    ) {
        self.errors
            .push(schema_error(type_, field, bad_value, detail));
    }

    fn compile(&mut self, schema: &Value, level: Level, path: &str) -> Node {
        let mut node = Node::default();
        let Some(object) = schema.as_object() else {
            self.error(
                FieldErrorType::Invalid,
                path.to_string(),
                Some(schema.clone()),
                "must be an object",
            );
            return node;
        };

        let declared_type = object.get("type").and_then(Value::as_str).unwrap_or("");
        node.int_or_string = bool_of(object, "x-kubernetes-int-or-string");
        node.preserve_unknown_fields = bool_of(object, "x-kubernetes-preserve-unknown-fields");
        node.embedded_resource = bool_of(object, "x-kubernetes-embedded-resource");
        if node.int_or_string {
            node.types = vec!["integer", "string"];
        } else if !declared_type.is_empty() {
            match KNOWN_TYPES.iter().find(|t| **t == declared_type) {
                Some(t) => node.types = vec![*t],
                None => self.error(
                    FieldErrorType::NotSupported,
                    format!("{path}.type"),
                    Some(Value::String(declared_type.to_string())),
                    "supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\"",
                ),
            }
        }
        node.type_names = node.types.join(",");
        node.nullable = bool_of(object, "nullable");

        if level.in_junctor() {
            for key in ["type", "additionalProperties", "default", "nullable"] {
                if key == "type" && level == Level::IntOrStringJunctor {
                    continue;
                }
                let set = match key {
                    "nullable" => node.nullable,
                    _ => object.contains_key(key),
                };
                if set {
                    let detail = match key {
                        "type" => "must be empty to be structural",
                        "nullable" => "must be false to be structural",
                        _ => "must be undefined to be structural",
                    };
                    self.error(
                        FieldErrorType::Forbidden,
                        format!("{path}.{key}"),
                        None,
                        detail,
                    );
                }
            }
        } else if node.embedded_resource && declared_type != "object" {
            if declared_type.is_empty() {
                self.error(
                    FieldErrorType::Required,
                    format!("{path}.type"),
                    None,
                    "must be object if x-kubernetes-embedded-resource is true",
                );
            } else {
                self.error(
                    FieldErrorType::Invalid,
                    format!("{path}.type"),
                    Some(Value::String(declared_type.into())),
                    "must be object if x-kubernetes-embedded-resource is true",
                );
            }
        } else if declared_type.is_empty() && !node.int_or_string && !node.preserve_unknown_fields {
            let detail = match level {
                Level::Root => "must not be empty at the root",
                Level::Item => "must not be empty for specified array items",
                _ => "must not be empty for specified object fields",
            };
            self.error(
                FieldErrorType::Required,
                format!("{path}.type"),
                None,
                detail,
            );
        }
        if level == Level::Root && !declared_type.is_empty() && declared_type != "object" {
            self.error(
                FieldErrorType::Invalid,
                format!("{path}.type"),
                Some(Value::String(declared_type.into())),
                "must be object at the root",
            );
        }
        if node.int_or_string && node.preserve_unknown_fields {
            self.error(
                FieldErrorType::Invalid,
                format!("{path}.x-kubernetes-preserve-unknown-fields"),
                Some(Value::Bool(true)),
                "must be false if x-kubernetes-int-or-string is true",
            );
        }

        node.format_name = object
            .get("format")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        node.format = supported_format(&node.types, &node.format_name);

        if let Some(values) = object.get("enum").and_then(Value::as_array) {
            node.enum_values = values.clone();
        }
        node.minimum = float_of(object, "minimum");
        node.maximum = float_of(object, "maximum");
        node.exclusive_minimum = bool_of(object, "exclusiveMinimum");
        node.exclusive_maximum = bool_of(object, "exclusiveMaximum");
        node.multiple_of = float_of(object, "multipleOf");
        node.min_length = int_of(object, "minLength");
        node.max_length = int_of(object, "maxLength");
        node.min_items = int_of(object, "minItems");
        node.max_items = int_of(object, "maxItems");
        node.unique_items = bool_of(object, "uniqueItems");
        node.min_properties = int_of(object, "minProperties");
        node.max_properties = int_of(object, "maxProperties");
        if let Some(pattern) = object.get("pattern").and_then(Value::as_str) {
            match Regex::new(&ascii_perl_classes(pattern)) {
                Ok(regex) => node.pattern = Some((pattern.to_string(), regex)),
                Err(err) => self.error(
                    FieldErrorType::Invalid,
                    format!("{path}.pattern"),
                    Some(Value::String(pattern.into())),
                    &format!("must be a valid regular expression, but isn't: {err}"),
                ),
            }
        }
        if let Some(required) = object.get("required").and_then(Value::as_array) {
            node.required = required
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
        }
        node.default = object.get("default").cloned();

        if let Some(properties) = object.get("properties").and_then(Value::as_object) {
            for (name, sub) in properties {
                let sub_path = format!("{path}.properties[{name}]");
                let child_level = if level.in_junctor() {
                    level
                } else {
                    Level::Field
                };
                let child = self.compile(sub, child_level, &sub_path);
                node.property_index
                    .insert(name.clone(), node.properties.len());
                node.properties.push((name.clone(), child));
            }
        }
        match object.get("additionalProperties") {
            Some(Value::Bool(false)) => node.additional = Some(Additional::Forbidden),
            Some(Value::Bool(true)) => node.additional = Some(Additional::Allowed),
            Some(sub @ Value::Object(_)) => {
                if level == Level::Root {
                    self.error(
                        FieldErrorType::Forbidden,
                        format!("{path}.additionalProperties"),
                        None,
                        "must not be used at the root",
                    );
                }
                if !node.properties.is_empty() {
                    self.error(
                        FieldErrorType::Forbidden,
                        format!("{path}.additionalProperties"),
                        None,
                        "additionalProperties and properties are mutual exclusive",
                    );
                }
                let child_level = if level.in_junctor() {
                    level
                } else {
                    Level::Field
                };
                let child = self.compile(sub, child_level, &format!("{path}.additionalProperties"));
                node.additional = Some(Additional::Schema(Box::new(child)));
            }
            _ => {}
        }
        if let Some(items) = object.get("items") {
            let child_level = if level.in_junctor() {
                level
            } else {
                Level::Item
            };
            node.items = Some(Box::new(self.compile(
                items,
                child_level,
                &format!("{path}.items"),
            )));
        } else if declared_type == "array" && !level.in_junctor() {
            self.error(
                FieldErrorType::Required,
                format!("{path}.items"),
                None,
                "must be specified",
            );
        }
        let junctor_level = if node.int_or_string || level == Level::IntOrStringJunctor {
            Level::IntOrStringJunctor
        } else {
            Level::Junctor
        };
        for (key, list) in [("allOf", 0), ("oneOf", 1), ("anyOf", 2)] {
            if let Some(schemas) = object.get(key).and_then(Value::as_array) {
                let compiled: Vec<Node> = schemas
                    .iter()
                    .enumerate()
                    .map(|(i, s)| self.compile(s, junctor_level, &format!("{path}.{key}[{i}]")))
                    .collect();
                match list {
                    0 => node.all_of = compiled,
                    1 => node.one_of = compiled,
                    _ => node.any_of = compiled,
                }
            }
        }
        if let Some(not) = object.get("not") {
            node.not = Some(Box::new(self.compile(
                not,
                Level::Junctor,
                &format!("{path}.not"),
            )));
        }

        match object.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("atomic") => node.list_type = Some(ListType::Atomic),
            Some("set") => node.list_type = Some(ListType::Set),
            Some("map") => node.list_type = Some(ListType::Map),
            Some(other) => self.error(
                FieldErrorType::NotSupported,
                format!("{path}.x-kubernetes-list-type"),
                Some(Value::String(other.into())),
                "supported values: \"atomic\", \"set\", \"map\"",
            ),
            None => {}
        }
        if let Some(keys) = object
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
        {
            node.list_map_keys = keys
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
        }
        if node.list_type == Some(ListType::Map) && node.list_map_keys.is_empty() {
            self.error(
                FieldErrorType::Required,
                format!("{path}.x-kubernetes-list-map-keys"),
                None,
                "must not be empty if x-kubernetes-list-type is map",
            );
        }

        if let Some(rules) = object
            .get("x-kubernetes-validations")
            .and_then(Value::as_array)
        {
            for (i, rule) in rules.iter().enumerate() {
                match Rule::compile(rule) {
                    Ok(rule) => node.rules.push(rule),
                    Err(detail) => self.error(
                        FieldErrorType::Invalid,
                        format!("{path}.x-kubernetes-validations[{i}].rule"),
                        rule.get("rule").cloned(),
                        &detail,
                    ),
                }
            }
        }

        let children = node
            .properties
            .iter()
            .map(|(_, n)| n)
            .chain(node.additional_schema())
            .chain(node.items.as_deref());
        let mut embedded = node.embedded_resource;
        let (mut rules, mut defaults, mut lists) = (
            !node.rules.is_empty(),
            false,
            node.list_type.is_some_and(|t| t != ListType::Atomic),
        );
        for child in children {
            rules |= child.has_rules_below;
            defaults |= child.has_defaults_below || child.default.is_some();
            lists |= child.has_list_checks_below;
            embedded |= child.has_embedded_below;
        }
        node.has_embedded_below = embedded;
        node.has_rules_below = rules;
        node.has_defaults_below = defaults;
        node.has_list_checks_below = lists;
        node
    }
}

/// kube keeps only the formats it supports (`StripUnsupportedFormatsPostProcess`); the rest are
/// ignored entirely.
fn supported_format(types: &[&str], format: &str) -> Option<Format> {
    if format.is_empty() {
        return None;
    }
    let single = if types.len() == 1 { types[0] } else { "" };
    match single {
        "" | "string" => StringFormat::named(&format.replace('-', "")).map(Format::String),
        "integer" => match format {
            "int32" => Some(Format::Int32),
            "int64" => Some(Format::Int64),
            _ => None,
        },
        "number" => match format {
            "float" => Some(Format::Float),
            "double" => Some(Format::Double),
            _ => None,
        },
        _ => None,
    }
}

/// Go's RE2 treats `\d`, `\w`, `\s` and `\b` as ASCII-only; the `regex` crate makes them
/// Unicode-aware. Rewrites them to their ASCII meaning so patterns accept what kube accepts.
pub fn ascii_perl_classes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars();
    let mut class_depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) => {
                    let replacement = match escaped {
                        'd' => Some("[0-9]"),
                        'D' => Some("[^0-9]"),
                        'w' => Some("[0-9A-Za-z_]"),
                        'W' => Some("[^0-9A-Za-z_]"),
                        's' => Some("[\\t\\n\\f\\r ]"),
                        'S' => Some("[^\\t\\n\\f\\r ]"),
                        'b' if class_depth == 0 => Some("(?-u:\\b)"),
                        'B' if class_depth == 0 => Some("(?-u:\\B)"),
                        _ => None,
                    };
                    match replacement {
                        Some(text) => out.push_str(text),
                        None => {
                            out.push('\\');
                            out.push(escaped);
                        }
                    }
                }
                None => out.push('\\'),
            },
            '[' => {
                class_depth += 1;
                out.push(c);
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}
