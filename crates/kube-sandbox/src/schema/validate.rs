//! Value validation with kube-apiserver's semantics and wording: the kube-openapi schema
//! validator (as apiextensions-apiserver converts its results to field errors), then
//! `x-kubernetes-list-type` uniqueness, then `x-kubernetes-validations` rules.

use super::field_path::{child, index, key};
use super::gofmt::{self, GoNumber};
use super::node::{Additional, Format, ListType, Node};
use super::{FieldError, FieldErrorType};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt::Write as _;

/// The field of an error kube-openapi reported under `name` (`nil.Child(name)` in kube).
fn field_of(name: &str) -> String {
    if name.is_empty() || name == "." {
        "<nil>".to_string()
    } else {
        name.strip_prefix('.').unwrap_or(name).to_string()
    }
}

fn invalid(name: &str, bad_value: Value, detail: String) -> FieldError {
    FieldError {
        type_: FieldErrorType::Invalid,
        field: field_of(name),
        bad_value: Some(bad_value),
        detail,
    }
}

/// A kube-openapi error that is not a `*errors.Validation` (range checks, anyOf/oneOf/allOf/not):
/// apiextensions reports it as `field.Invalid(nil, "", err.Error())`.
fn plain(detail: String) -> FieldError {
    FieldError {
        type_: FieldErrorType::Invalid,
        field: "<nil>".to_string(),
        bad_value: Some(Value::String(String::new())),
        detail,
    }
}

/// `errors.InvalidType` with a string value, converted to `field.TypeInvalid`.
fn invalid_type(name: &str, type_name: &str, value: &str) -> FieldError {
    FieldError {
        type_: FieldErrorType::TypeInvalid,
        field: field_of(name),
        bad_value: Some(Value::String(value.to_string())),
        detail: format!(
            "{name} in body must be of type {type_name}: {}",
            gofmt::quote(value)
        ),
    }
}

fn number_value(n: GoNumber) -> Value {
    match n {
        GoNumber::Int(i) => Value::from(i),
        GoNumber::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
    }
}

fn plural(count: i64, singular: &str, plural: &str) -> String {
    format!("{count} {}", if count == 1 { singular } else { plural })
}

/// `swag.IsFloat64AJSONInteger`.
fn is_json_integer(f: f64) -> bool {
    f.is_finite() && f.abs() <= 9_007_199_254_740_992.0 && f.fract() == 0.0
}

/// Whether a Go value of `data`'s type converts to `enum_value`'s type and then equals it
/// (kube-openapi's enum check after `reflect.DeepEqual` fails).
fn enum_matches(data: &Value, enum_value: &Value) -> bool {
    if data == enum_value {
        return true;
    }
    match (data, enum_value) {
        (Value::Number(d), Value::Number(e)) => match (GoNumber::of(d), GoNumber::of(e)) {
            (GoNumber::Int(d), GoNumber::Float(e)) => d as f64 == e,
            (GoNumber::Float(d), GoNumber::Int(e)) => d as i64 == e,
            (GoNumber::Int(d), GoNumber::Int(e)) => d == e,
            (GoNumber::Float(d), GoNumber::Float(e)) => d == e,
        },
        (Value::Number(d), Value::String(e)) => match GoNumber::of(d) {
            GoNumber::Int(d) => {
                let rune = u32::try_from(d)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}');
                e.chars().eq(std::iter::once(rune))
            }
            GoNumber::Float(_) => false,
        },
        _ => false,
    }
}

/// How an enum value is listed in `supported values: ...`.
fn enum_listing(value: &Value) -> String {
    match value {
        Value::String(s) => gofmt::quote(s),
        other => gofmt::quote(&gofmt::json(other)),
    }
}

pub struct SchemaValidation<'a> {
    pub out: &'a mut Vec<FieldError>,
}

impl SchemaValidation<'_> {
    /// `SchemaValidator.Validate` for one value at kube-openapi path `path`.
    pub fn value(&mut self, node: &Node, value: &Value, path: &str) {
        if value.is_null() {
            if !node.types.is_empty() && !node.nullable {
                self.out.push(invalid_type(path, &node.type_names, "null"));
            }
            self.enumeration(node, value, path);
            return;
        }
        if !node.types.is_empty() || node.format.is_some() {
            self.type_of(node, value, path);
        }
        if !node.any_of.is_empty()
            || !node.one_of.is_empty()
            || !node.all_of.is_empty()
            || node.not.is_some()
        {
            self.junctors(node, value, path);
        }
        match value {
            Value::String(text) => {
                self.string(node, text, path);
                if let Some(Format::String(format)) = node.format
                    && !format.validates(text)
                {
                    self.out.push(invalid_type(path, &node.format_name, text));
                }
            }
            Value::Number(n) => self.number(node, GoNumber::of(n), path),
            Value::Array(items) => self.array(node, items, path),
            _ => {}
        }
        self.enumeration(node, value, path);
        if let Value::Object(map) = value {
            self.object(node, map, path);
        }
    }

    fn type_of(&mut self, node: &Node, value: &Value, path: &str) {
        let (schema_type, data_format) = match value {
            Value::Bool(_) => ("boolean", ""),
            Value::String(_) => ("string", ""),
            Value::Number(n) => match GoNumber::of(n) {
                GoNumber::Int(_) => ("integer", "int64"),
                GoNumber::Float(_) => ("number", "float64"),
            },
            Value::Array(_) => ("array", ""),
            Value::Object(_) => ("object", ""),
            Value::Null => return,
        };
        let format = if node.format.is_some() {
            node.format_name.as_str()
        } else {
            ""
        };
        let is_float_int = match value {
            Value::Number(n) => match GoNumber::of(n) {
                GoNumber::Float(f) => is_json_integer(f) && node.has_type("integer"),
                GoNumber::Int(_) => false,
            },
            _ => false,
        };
        let is_int_float = schema_type == "integer" && node.has_type("number");
        let string_or_array = matches!(value, Value::String(_) | Value::Array(_));
        let accepted = node.has_type(schema_type) || is_float_int || is_int_float;
        if !(string_or_array || format.is_empty() || accepted || data_format == format) {
            self.out.push(invalid_type(path, format, data_format));
            return;
        }
        let numeric = node.has_type("number") || node.has_type("integer");
        if !numeric && !format.is_empty() && string_or_array {
            // kube-openapi lets a string-format schema accept arrays as well as strings here.
            return;
        }
        if !accepted {
            self.out
                .push(invalid_type(path, &node.type_names, schema_type));
        }
    }

    fn sub(&mut self, node: &Node, value: &Value, path: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        SchemaValidation { out: &mut errors }.value(node, value, path);
        errors
    }

    fn junctors(&mut self, node: &Node, value: &Value, path: &str) {
        if !node.any_of.is_empty() {
            let mut first_failure = None;
            let mut succeeded = false;
            for schema in &node.any_of {
                let errors = self.sub(schema, value, path);
                if errors.is_empty() {
                    succeeded = true;
                    first_failure = None;
                    break;
                }
                first_failure.get_or_insert(errors);
            }
            if !succeeded {
                self.out.push(plain(format!(
                    "{} must validate at least one schema (anyOf)",
                    gofmt::quote(path)
                )));
            }
            self.out.extend(first_failure.unwrap_or_default());
        }
        if !node.one_of.is_empty() {
            let mut first_failure = None;
            let mut valid = 0;
            for schema in &node.one_of {
                let errors = self.sub(schema, value, path);
                if errors.is_empty() {
                    valid += 1;
                    first_failure = None;
                } else if valid == 0 && first_failure.is_none() {
                    first_failure = Some(errors);
                }
            }
            if valid != 1 {
                let found = if valid == 0 {
                    "Found none valid".to_string()
                } else {
                    format!("Found {valid} valid alternatives")
                };
                self.out.push(plain(format!(
                    "{} must validate one and only one schema (oneOf). {found}",
                    gofmt::quote(path)
                )));
                self.out.extend(first_failure.unwrap_or_default());
            }
        }
        if !node.all_of.is_empty() {
            let mut valid = 0;
            for schema in &node.all_of {
                let errors = self.sub(schema, value, path);
                if errors.is_empty() {
                    valid += 1;
                }
                self.out.extend(errors);
            }
            if valid != node.all_of.len() {
                let suffix = if valid == 0 { ". None validated" } else { "" };
                self.out.push(plain(format!(
                    "{} must validate all the schemas (allOf){suffix}",
                    gofmt::quote(path)
                )));
            }
        }
        if let Some(not) = &node.not
            && self.sub(not, value, path).is_empty()
        {
            self.out.push(plain(format!(
                "{} must not validate the schema (not)",
                gofmt::quote(path)
            )));
        }
    }

    /// kube-openapi reports only the first of maxLength, minLength, pattern.
    fn string(&mut self, node: &Node, text: &str, path: &str) {
        if node.max_length.is_none() && node.min_length.is_none() && node.pattern.is_none() {
            return;
        }
        let length = text.chars().count() as i64;
        if let Some(max) = node.max_length
            && length > max
        {
            self.out.push(FieldError {
                type_: FieldErrorType::TooLong,
                field: field_of(path),
                bad_value: None,
                detail: format!("may not be more than {}", plural(max, "byte", "bytes")),
            });
            return;
        }
        if let Some(min) = node.min_length
            && length < min
        {
            self.out.push(invalid(
                path,
                Value::String(text.to_string()),
                format!("{path} in body should be at least {min} chars long"),
            ));
            return;
        }
        if let Some((pattern, regex)) = &node.pattern
            && !regex.is_match(text)
        {
            self.out.push(invalid(
                path,
                Value::String(text.to_string()),
                format!("{path} in body should match '{pattern}'"),
            ));
        }
    }

    fn number(&mut self, node: &Node, n: GoNumber, path: &str) {
        let (type_name, format) = match (node.types.as_slice(), node.format) {
            (["integer"], Some(Format::Int32)) => ("integer", "int32"),
            (["integer"], Some(Format::Int64)) => ("integer", "int64"),
            (["integer"], _) => ("integer", ""),
            (["number"], Some(Format::Float)) => ("number", "float"),
            (["number"], Some(Format::Double)) => ("number", "double"),
            (["number"], _) => ("number", ""),
            _ => ("", ""),
        };
        if let Some(err) = range_check(n, type_name, format, "Checked", path) {
            self.out.push(err);
        }
        if let Some(factor) = node.multiple_of {
            let boundary = range_check(
                GoNumber::Float(factor),
                type_name,
                format,
                "MultipleOf",
                path,
            );
            let native = boundary.is_none();
            self.out.extend(boundary);
            self.out.extend(multiple_of(path, n, factor, native));
        }
        if let Some(min) = node.minimum {
            let boundary = range_check(
                GoNumber::Float(min),
                type_name,
                format,
                "Minimum boundary",
                path,
            );
            let native = boundary.is_none();
            self.out.extend(boundary);
            self.out
                .extend(bound(path, n, min, node.exclusive_minimum, native, false));
        }
        if let Some(max) = node.maximum {
            let boundary = range_check(
                GoNumber::Float(max),
                type_name,
                format,
                "Maximum boundary",
                path,
            );
            let native = boundary.is_none();
            self.out.extend(boundary);
            self.out
                .extend(bound(path, n, max, node.exclusive_maximum, native, true));
        }
    }

    fn array(&mut self, node: &Node, items: &[Value], path: &str) {
        if let Some(item_schema) = &node.items {
            let mut child = String::with_capacity(path.len() + 8);
            for (i, item) in items.iter().enumerate() {
                child.clear();
                let _ = write!(child, "{path}[{i}]");
                self.value(item_schema, item, &child);
            }
        }
        let size = items.len() as i64;
        if let Some(min) = node.min_items
            && size < min
        {
            self.out.push(invalid(
                path,
                Value::from(size),
                format!("{path} in body should have at least {min} items"),
            ));
        }
        if let Some(max) = node.max_items
            && size > max
        {
            self.out.push(too_many(path, size, max));
        }
        if node.unique_items
            && items
                .iter()
                .enumerate()
                .any(|(i, a)| items[..i].contains(a))
        {
            self.out.push(invalid(
                path,
                Value::String(String::new()),
                format!("{path} in body shouldn't contain duplicates"),
            ));
        }
    }

    fn enumeration(&mut self, node: &Node, value: &Value, path: &str) {
        if node.enum_values.is_empty()
            || (!value.is_null() && node.enum_values.iter().any(|e| enum_matches(value, e)))
        {
            return;
        }
        let listing: Vec<String> = node.enum_values.iter().map(enum_listing).collect();
        self.out.push(FieldError {
            type_: FieldErrorType::NotSupported,
            field: field_of(path),
            bad_value: Some(value.clone()),
            detail: format!("supported values: {}", listing.join(", ")),
        });
    }

    fn object(&mut self, node: &Node, map: &Map<String, Value>, path: &str) {
        let size = map.len() as i64;
        if let Some(min) = node.min_properties
            && size < min
        {
            self.out.push(invalid(
                path,
                Value::from(size),
                format!("{path} in body should have at least {min} properties"),
            ));
        }
        if let Some(max) = node.max_properties
            && size > max
        {
            self.out.push(too_many(path, size, max));
        }
        match &node.additional {
            Some(Additional::Forbidden) => {
                for key in map.keys().filter(|k| node.property(k).is_none()) {
                    self.out.push(invalid(
                        path,
                        Value::String(key.clone()),
                        format!("{path}.{key} in body is a forbidden property"),
                    ));
                }
            }
            Some(Additional::Schema(schema)) => {
                let mut child = String::with_capacity(path.len() + 16);
                for (key, value) in map.iter().filter(|(k, _)| node.property(k).is_none()) {
                    child.clear();
                    child.push_str(path);
                    child.push('.');
                    child.push_str(key);
                    self.value(schema, value, &child);
                }
            }
            Some(Additional::Allowed) | None => {}
        }
        // Visit present properties in schema order without hashing every schema property.
        let mut present: Vec<(usize, &str, &Value)> = map
            .iter()
            .filter_map(|(k, v)| node.property_position(k).map(|i| (i, k.as_str(), v)))
            .collect();
        present.sort_unstable_by_key(|(i, _, _)| *i);
        let mut child = String::with_capacity(path.len() + 24);
        for (position, name, value) in present {
            let Some((_, schema)) = node.properties.get(position) else {
                continue;
            };
            {
                child.clear();
                if !path.is_empty() {
                    child.push_str(path);
                    child.push('.');
                }
                child.push_str(name);
                self.value(schema, value, &child);
            }
        }
        for name in &node.required {
            if !map.contains_key(name) {
                self.out.push(FieldError {
                    type_: FieldErrorType::Required,
                    field: field_of(&format!("{path}.{name}")),
                    bad_value: None,
                    detail: String::new(),
                });
            }
        }
    }
}

fn too_many(path: &str, actual: i64, max: i64) -> FieldError {
    FieldError {
        type_: FieldErrorType::TooMany,
        field: field_of(path),
        bad_value: Some(Value::from(actual)),
        detail: format!("must have at most {}", plural(max, "item", "items")),
    }
}

/// `IsValueValidAgainstRange`: whether the number, printed as Go prints it and parsed back as
/// the declared type and format, fits (computed numerically here, to the same result).
fn range_check(
    n: GoNumber,
    type_name: &str,
    format: &str,
    prefix: &str,
    path: &str,
) -> Option<FieldError> {
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    let fits = match (type_name, format, n) {
        ("integer", "int32", GoNumber::Int(i)) => i32::try_from(i).is_ok(),
        ("integer", "int32", GoNumber::Float(f)) => {
            f.fract() == 0.0 && f >= f64::from(i32::MIN) && f <= f64::from(i32::MAX)
        }
        ("integer", _, GoNumber::Int(_)) => true,
        ("integer", _, GoNumber::Float(f)) => {
            f.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&f)
        }
        (_, "float", GoNumber::Float(f)) => f.abs() <= f64::from(f32::MAX),
        _ => true,
    };
    if fits {
        return None;
    }
    Some(plain(if format.is_empty() {
        format!("{prefix} value must be of type {type_name} (default format) in {path}")
    } else {
        format!("{prefix} value must be of type {type_name} with format {format} in {path}")
    }))
}

fn multiple_of(path: &str, n: GoNumber, factor: f64, native: bool) -> Option<FieldError> {
    let data = number_value(n);
    match n {
        GoNumber::Int(d) if native => {
            let factor = factor as i64;
            if factor <= 0 {
                Some(invalid(
                    path,
                    Value::from(factor),
                    format!("factor MultipleOf declared for {path} must be positive: {factor}"),
                ))
            } else if d % factor != 0 {
                Some(invalid(
                    path,
                    data,
                    format!("{path} in body should be a multiple of {factor}"),
                ))
            } else {
                None
            }
        }
        _ => {
            let d = n.as_f64();
            if factor <= 0.0 {
                return Some(invalid(
                    path,
                    number_value(GoNumber::Float(factor)),
                    format!(
                        "factor MultipleOf declared for {path} must be positive: {}",
                        gofmt::float(factor)
                    ),
                ));
            }
            let quotient = if factor < 1.0 {
                1.0 / factor * d
            } else {
                d / factor
            };
            (!is_json_integer(quotient)).then(|| {
                invalid(
                    path,
                    data,
                    format!(
                        "{path} in body should be a multiple of {}",
                        gofmt::float(factor)
                    ),
                )
            })
        }
    }
}

/// `MinimumNativeType` / `MaximumNativeType`: integers compare against the truncated bound.
fn bound(
    path: &str,
    n: GoNumber,
    limit: f64,
    exclusive: bool,
    native: bool,
    is_max: bool,
) -> Option<FieldError> {
    let (violated, shown) = match n {
        GoNumber::Int(d) if native => {
            let limit = limit as i64;
            let violated = if is_max {
                d > limit || (exclusive && d == limit)
            } else {
                d < limit || (exclusive && d == limit)
            };
            (violated, limit.to_string())
        }
        _ => {
            let d = n.as_f64();
            let violated = if is_max {
                d > limit || (exclusive && d >= limit)
            } else {
                d < limit || (exclusive && d <= limit)
            };
            (violated, gofmt::float(limit))
        }
    };
    if !violated {
        return None;
    }
    let relation = match (is_max, exclusive) {
        (true, false) => "less than or equal to",
        (true, true) => "less than",
        (false, false) => "greater than or equal to",
        (false, true) => "greater than",
    };
    Some(invalid(
        path,
        number_value(n),
        format!("{path} in body should be {relation} {shown}"),
    ))
}

/// `structurallisttype.ValidateListSetsAndMaps`.
pub fn list_sets_and_maps(node: &Node, value: &Value, path: &str, out: &mut Vec<FieldError>) {
    if !node.has_list_checks_below {
        return;
    }
    match value {
        Value::Object(map) => {
            if let Some(schema) = node.additional_schema().filter(|s| s.has_list_checks_below) {
                for (k, v) in map {
                    list_sets_and_maps(schema, v, &key(path, k), out);
                }
            }
            for (k, v) in map {
                if let Some(schema) = node.property(k).filter(|s| s.has_list_checks_below) {
                    list_sets_and_maps(schema, v, &child(path, k), out);
                }
            }
        }
        Value::Array(items) => {
            match node.list_type {
                Some(ListType::Set) => {
                    for i in duplicate_indices(items.iter().map(Some)) {
                        out.push(FieldError {
                            type_: FieldErrorType::Duplicate,
                            field: index(path, i),
                            bad_value: Some(items[i].clone()),
                            detail: String::new(),
                        });
                    }
                }
                Some(ListType::Map) => list_map(node, items, path, out),
                _ => {}
            }
            if let Some(item_schema) = node.items.as_deref().filter(|s| s.has_list_checks_below) {
                for (i, item) in items.iter().enumerate() {
                    list_sets_and_maps(item_schema, item, &index(path, i), out);
                }
            }
        }
        _ => {}
    }
}

fn list_map(node: &Node, items: &[Value], path: &str, out: &mut Vec<FieldError>) {
    for (i, item) in items.iter().enumerate() {
        if !item.is_null() && !item.is_object() {
            out.push(FieldError {
                type_: FieldErrorType::Invalid,
                field: index(path, i),
                bad_value: Some(item.clone()),
                detail: "must be an object for an array of list-type map".into(),
            });
            return;
        }
    }
    if items.len() <= 1 {
        return;
    }
    let keys: Vec<Value> = items
        .iter()
        .map(|item| {
            let mut key = Map::new();
            if let Some(object) = item.as_object() {
                for field in &node.list_map_keys {
                    if let Some(v) = object.get(field) {
                        key.insert(field.clone(), v.clone());
                    }
                }
            }
            Value::Object(key)
        })
        .collect();
    let single_key = node.list_map_keys.len() == 1;
    let comparable: Vec<Option<&Value>> = keys
        .iter()
        .map(|k| {
            if single_key {
                k.as_object().and_then(|m| m.values().next())
            } else {
                Some(k)
            }
        })
        .collect();
    for i in duplicate_indices(comparable.into_iter()) {
        out.push(FieldError {
            type_: FieldErrorType::Duplicate,
            field: index(path, i),
            bad_value: Some(keys[i].clone()),
            detail: String::new(),
        });
    }
}

/// Indices of second occurrences, as `validateListSet` reports them: scalars compare as Go
/// interface values (int and float differ), compounds by their JSON encoding. `None` stands for
/// an unspecified map key, equal only to itself.
fn duplicate_indices<'a>(items: impl Iterator<Item = Option<&'a Value>>) -> Vec<usize> {
    let mut seen: HashMap<Option<String>, usize> = HashMap::new();
    let mut duplicates = Vec::new();
    for (i, item) in items.enumerate() {
        let identity = item.map(|v| match v {
            Value::Object(_) | Value::Array(_) => format!("c{}", gofmt::json(v)),
            Value::Number(n) => match GoNumber::of(n) {
                GoNumber::Int(i) => format!("i{i}"),
                GoNumber::Float(f) => format!("f{}", f.to_bits()),
            },
            other => format!("s{}", gofmt::json(other)),
        });
        let times = seen.entry(identity).or_insert(0);
        *times += 1;
        if *times == 2 {
            duplicates.push(i);
        }
    }
    duplicates
}

fn required(field: String) -> FieldError {
    FieldError {
        type_: FieldErrorType::Required,
        field,
        bad_value: None,
        detail: String::new(),
    }
}

fn invalid_at(field: String, bad_value: Value, detail: impl Into<String>) -> FieldError {
    FieldError {
        type_: FieldErrorType::Invalid,
        field,
        bad_value: Some(bad_value),
        detail: detail.into(),
    }
}

/// `schemaobjectmeta.Validate` for embedded resources below the root: `apiVersion` and `kind`
/// present and well-formed. (Their `metadata` is not checked here.)
pub fn embedded_resources(node: &Node, value: &Value, path: &str, out: &mut Vec<FieldError>) {
    if !node.has_embedded_below {
        return;
    }
    match value {
        Value::Object(map) => {
            if node.embedded_resource {
                embedded_type_meta(map, path, out);
            }
            for (k, v) in map {
                if let Some(schema) = node.property(k) {
                    embedded_resources(schema, v, &child(path, k), out);
                } else if let Some(schema) = node.additional_schema() {
                    embedded_resources(schema, v, &key(path, k), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = node.items.as_deref().filter(|s| s.has_embedded_below) {
                for (i, item) in items.iter().enumerate() {
                    embedded_resources(item_schema, item, &index(path, i), out);
                }
            }
        }
        _ => {}
    }
}

const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";

fn is_dns1035_label(value: &str) -> bool {
    let bytes = value.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    first.is_ascii_lowercase()
        && (last.is_ascii_lowercase() || last.is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

fn embedded_type_meta(map: &Map<String, Value>, path: &str, out: &mut Vec<FieldError>) {
    let api_version_path = child(path, "apiVersion");
    let kind_path = child(path, "kind");
    if !map.contains_key("apiVersion") {
        out.push(required(api_version_path.clone()));
    }
    if !map.contains_key("kind") {
        out.push(required(kind_path.clone()));
    }
    for (k, v) in map {
        match (k.as_str(), v) {
            ("apiVersion", Value::String(api_version)) if api_version.is_empty() => {
                out.push(invalid_at(
                    api_version_path.clone(),
                    v.clone(),
                    "must not be empty",
                ));
            }
            ("apiVersion", Value::String(api_version))
                if api_version != "/" && api_version.matches('/').count() > 1 =>
            {
                out.push(invalid_at(
                    api_version_path.clone(),
                    v.clone(),
                    format!("unexpected GroupVersion string: {api_version}"),
                ));
            }
            ("kind", Value::String(kind)) if kind.is_empty() => {
                out.push(invalid_at(
                    kind_path.clone(),
                    v.clone(),
                    "must not be empty",
                ));
            }
            ("kind", Value::String(kind)) => {
                let lower = kind.to_lowercase();
                let mut problems = Vec::new();
                if lower.len() > 63 {
                    problems.push("must be no more than 63 characters".to_string());
                }
                if !is_dns1035_label(&lower) {
                    problems.push(format!(
                        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '{DNS1035_LABEL_FMT}')"
                    ));
                }
                if !problems.is_empty() {
                    out.push(invalid_at(
                        kind_path.clone(),
                        v.clone(),
                        format!(
                            "may have mixed case, but should otherwise match: {}",
                            problems.join(",")
                        ),
                    ));
                }
            }
            ("apiVersion", Value::String(_)) => {}
            ("apiVersion", _) => out.push(invalid_at(
                api_version_path.clone(),
                v.clone(),
                "must be a string",
            )),
            ("kind", _) => out.push(invalid_at(kind_path.clone(), v.clone(), "must be a string")),
            _ => {}
        }
    }
}
