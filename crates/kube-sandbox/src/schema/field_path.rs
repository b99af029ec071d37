//! Field paths as kube's `field.Path` renders them in error messages: `a.b`, `a[0]`, `a[key]`.

/// The path of field `name` below `path` (`a.b`; just `name` at the root).
pub fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// The path of list item `i` below `path` (`a[0]`).
pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// The path of map entry `key` below `path` (`a[key]`).
pub fn key(path: &str, key: &str) -> String {
    format!("{path}[{key}]")
}
