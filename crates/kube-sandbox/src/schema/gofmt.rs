//! Renders values the way Go's `fmt` and `encoding/json` do, so error messages read exactly like
//! kube-apiserver's (`%q` strings, `%v` floats, `json.Marshal` for compound values).

use serde_json::Value;
use std::fmt::Write as _;

/// `strconv.Quote`: double-quoted, Go escapes, printable Unicode kept as is.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            ' '..='~' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// Approximates `unicode.IsPrint` for non-ASCII characters: controls, separators other than the
/// ASCII space, and format characters are escaped.
fn is_go_printable(c: char) -> bool {
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
        || ('\u{e000}'..='\u{f8ff}').contains(&c)
        || ('\u{f0000}'..='\u{10ffff}').contains(&c))
}

/// The decimal digits and decimal-point position of the shortest representation that reads back
/// as `value` (which must be finite and non-zero), as Go's `strconv` computes them.
fn shortest_digits(value: f64) -> (String, i32) {
    let sci = format!("{:e}", value.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    (digits, exponent + 1)
}

fn exponent_suffix(out: &mut String, exponent: i32, min_digits: usize) {
    out.push('e');
    out.push(if exponent < 0 { '-' } else { '+' });
    let magnitude = exponent.unsigned_abs().to_string();
    for _ in magnitude.len()..min_digits {
        out.push('0');
    }
    out.push_str(&magnitude);
}

fn mantissa_e(out: &mut String, digits: &str) {
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
}

fn fixed(out: &mut String, digits: &str, point: i32) {
    if point <= 0 {
        out.push_str("0.");
        for _ in point..0 {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let point = point as usize;
        if digits.len() <= point {
            out.push_str(digits);
            for _ in digits.len()..point {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    }
}

fn non_finite_or_zero(value: f64) -> Option<String> {
    if value.is_nan() {
        Some("NaN".into())
    } else if value.is_infinite() {
        Some(if value > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else if value == 0.0 {
        Some(if value.is_sign_negative() { "-0" } else { "0" }.into())
    } else {
        None
    }
}

/// `fmt.Sprintf("%v", float64)`: shortest `%g`, which switches to exponent form when the decimal
/// exponent is below -4 or at least 6 (so a bound of 1000000 prints as `1e+06`, as in kube).
pub fn float(value: f64) -> String {
    if let Some(special) = non_finite_or_zero(value) {
        return special;
    }
    let (digits, point) = shortest_digits(value);
    let exponent = point - 1;
    let mut out = String::new();
    if value < 0.0 {
        out.push('-');
    }
    if !(-4..6).contains(&exponent) {
        mantissa_e(&mut out, &digits);
        exponent_suffix(&mut out, exponent, 2);
    } else {
        fixed(&mut out, &digits, point);
    }
    out
}

/// `encoding/json`'s rendering of a float64.
fn json_float(value: f64) -> String {
    if let Some(special) = non_finite_or_zero(value) {
        return special;
    }
    let (digits, point) = shortest_digits(value);
    let exponent = point - 1;
    let mut out = String::new();
    if value < 0.0 {
        out.push('-');
    }
    if !(-6..21).contains(&exponent) {
        mantissa_e(&mut out, &digits);
        exponent_suffix(&mut out, exponent, 1);
    } else {
        fixed(&mut out, &digits, point);
    }
    out
}

/// A JSON number as Go's unstructured decoding sees it: int64 when integral and in range,
/// float64 otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GoNumber {
    Int(i64),
    Float(f64),
}

impl GoNumber {
    pub fn of(number: &serde_json::Number) -> Self {
        match number.as_i64() {
            Some(i) => GoNumber::Int(i),
            None => GoNumber::Float(number.as_f64().unwrap_or(f64::NAN)),
        }
    }

    pub fn as_f64(self) -> f64 {
        match self {
            GoNumber::Int(i) => i as f64,
            GoNumber::Float(f) => f,
        }
    }

    /// `%v`.
    pub fn render(self) -> String {
        match self {
            GoNumber::Int(i) => i.to_string(),
            GoNumber::Float(f) => float(f),
        }
    }
}

/// `json.Marshal` of an unstructured value: sorted keys, HTML-safe escaping.
pub fn json(value: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, value);
    out
}

fn write_json(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match GoNumber::of(n) {
            GoNumber::Int(i) => out.push_str(&i.to_string()),
            GoNumber::Float(f) => out.push_str(&json_float(f)),
        },
        Value::String(s) => write_json_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, key);
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_json(out, v);
                }
            }
            out.push('}');
        }
    }
}

fn write_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// How `field.Error.ErrorBody` prints a bad value: `%v` for numbers and booleans, `%q` for
/// strings, `json.Marshal` for everything else (including null).
pub fn bad_value(value: &Value) -> String {
    match value {
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => GoNumber::of(n).render(),
        Value::String(s) => quote(s),
        other => json(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(float(1.0), "1");
        assert_eq!(float(0.5), "0.5");
        assert_eq!(float(1000000.0), "1e+06");
        assert_eq!(float(1234567.5), "1.2345675e+06");
        assert_eq!(float(0.0001), "0.0001");
        assert_eq!(float(0.00001), "1e-05");
        assert_eq!(float(-2.5), "-2.5");
        assert_eq!(float(100000.0), "100000");
    }

    #[test]
    fn json_matches_encoding_json() {
        let v = serde_json::json!({"b": [1, 2.5, "x<y"], "a": null, "c": 1e21});
        assert_eq!(json(&v), r#"{"a":null,"b":[1,2.5,"x\u003cy"],"c":1e+21}"#);
    }

    #[test]
    fn quote_escapes_like_strconv() {
        assert_eq!(quote("a\"b\\c\n\u{1}é"), r#""a\"b\\c\n\x01é""#);
    }
}
