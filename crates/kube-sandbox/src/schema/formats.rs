//! The string formats kube-apiserver checks for custom resources (go-openapi's `strfmt` registry
//! as kube restricts it), each a plain function or a regex compiled once.

use base64::Engine as _;
use regex::Regex;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

/// A string format kube validates (names compared without dashes, as go-openapi normalises them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringFormat {
    BsonObjectId,
    Uri,
    Email,
    Hostname,
    Ipv4,
    Ipv6,
    Cidr,
    Mac,
    Uuid,
    Uuid3,
    Uuid4,
    Uuid5,
    Isbn,
    Isbn10,
    Isbn13,
    CreditCard,
    Ssn,
    HexColor,
    RgbColor,
    Byte,
    Password,
    Date,
    Duration,
    DateTime,
}

static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    compiled(
        r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9\-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$",
    )
});

/// Compiles one of the constant patterns below; none depends on input.
fn compiled(pattern: &str) -> Regex {
    Regex::new(pattern).expect("constant format pattern compiles")
}

static UUID: LazyLock<Regex> = LazyLock::new(|| {
    compiled(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
});
static UUID3: LazyLock<Regex> = LazyLock::new(|| {
    compiled(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
});
static UUID4: LazyLock<Regex> = LazyLock::new(|| {
    compiled(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$")
});
static UUID5: LazyLock<Regex> = LazyLock::new(|| {
    compiled(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$")
});
static EMAIL: LazyLock<Regex> = LazyLock::new(|| compiled(r"^[^@\s]+@[^@\s]+$"));
static MAC: LazyLock<Regex> = LazyLock::new(|| {
    compiled(
        r"^([0-9A-Fa-f]{2}[:-]){5}([0-9A-Fa-f]{2})$|^([0-9A-Fa-f]{2}[:-]){7}([0-9A-Fa-f]{2})$|^([0-9A-Fa-f]{4}\.){2}([0-9A-Fa-f]{4})$",
    )
});
static HEXCOLOR: LazyLock<Regex> =
    LazyLock::new(|| compiled(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"));
static RGBCOLOR: LazyLock<Regex> = LazyLock::new(|| {
    compiled(
        r"^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$",
    )
});
static SSN: LazyLock<Regex> = LazyLock::new(|| compiled(r"^\d{3}[- ]?\d{2}[- ]?\d{4}$"));
static BSON: LazyLock<Regex> = LazyLock::new(|| compiled(r"^[0-9a-fA-F]{24}$"));
static DURATION: LazyLock<Regex> = LazyLock::new(|| {
    compiled(
        r"^(?:[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$|^[-+]?\d+\s*(?:ns|us|ms|s|m|h|d|w|nanos?|nanoseconds?|micros?|microseconds?|millis?|milliseconds?|seconds?|minutes?|hours?|days?|weeks?)$|^0$",
    )
});
static TIME_OF_DAY: LazyLock<Regex> = LazyLock::new(|| {
    compiled(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$")
});

impl StringFormat {
    /// The format for a normalised (dash-free) name, if kube supports it.
    pub fn named(normalized: &str) -> Option<Self> {
        use StringFormat::*;
        Some(match normalized {
            "bsonobjectid" => BsonObjectId,
            "uri" => Uri,
            "email" => Email,
            "hostname" => Hostname,
            "ipv4" => Ipv4,
            "ipv6" => Ipv6,
            "cidr" => Cidr,
            "mac" => Mac,
            "uuid" => Uuid,
            "uuid3" => Uuid3,
            "uuid4" => Uuid4,
            "uuid5" => Uuid5,
            "isbn" => Isbn,
            "isbn10" => Isbn10,
            "isbn13" => Isbn13,
            "creditcard" => CreditCard,
            "ssn" => Ssn,
            "hexcolor" => HexColor,
            "rgbcolor" => RgbColor,
            "byte" => Byte,
            "password" => Password,
            "date" => Date,
            "duration" => Duration,
            "datetime" => DateTime,
            _ => return None,
        })
    }

    /// Whether `text` is valid in this format.
    pub fn validates(self, text: &str) -> bool {
        use StringFormat::*;
        match self {
            BsonObjectId => BSON.is_match(text),
            Uri => is_request_uri(text),
            Email => EMAIL.is_match(text),
            Hostname => HOSTNAME.is_match(text),
            Ipv4 => text.parse::<Ipv4Addr>().is_ok(),
            Ipv6 => text.contains(':') && text.parse::<Ipv6Addr>().is_ok(),
            Cidr => is_cidr(text),
            Mac => MAC.is_match(text),
            Uuid => UUID.is_match(text),
            Uuid3 => UUID3.is_match(text),
            Uuid4 => UUID4.is_match(text),
            Uuid5 => UUID5.is_match(text),
            Isbn => is_isbn10(text) || is_isbn13(text),
            Isbn10 => is_isbn10(text),
            Isbn13 => is_isbn13(text),
            CreditCard => is_credit_card(text),
            Ssn => SSN.is_match(text),
            HexColor => HEXCOLOR.is_match(text),
            RgbColor => RGBCOLOR.is_match(text),
            Byte => base64::engine::general_purpose::STANDARD
                .decode(text)
                .is_ok(),
            Password => true,
            Date => is_full_date(text),
            Duration => DURATION.is_match(text),
            DateTime => is_date_time(text),
        }
    }
}

fn is_request_uri(text: &str) -> bool {
    // Go's url.ParseRequestURI: an absolute URI or an absolute path, no fragment-only forms.
    if text.is_empty() || text.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return false;
    }
    if text.starts_with('/') {
        return true;
    }
    match text.split_once(':') {
        Some((scheme, _)) => {
            let mut chars = scheme.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

fn is_cidr(text: &str) -> bool {
    let Some((address, prefix)) = text.split_once('/') else {
        return false;
    };
    let Ok(prefix) = prefix.parse::<u8>() else {
        return false;
    };
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => prefix <= 32,
        Ok(IpAddr::V6(_)) => prefix <= 128,
        Err(_) => false,
    }
}

/// Go's `time.Parse("2006-01-02", text)`.
fn is_full_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return false;
    }
    let number = |range: std::ops::Range<usize>| {
        text.get(range)
            .filter(|t| t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse::<i16>().ok())
    };
    match (number(0..4), number(5..7), number(8..10)) {
        (Some(year), Some(month), Some(day)) => {
            jiff::civil::Date::new(year, month as i8, day as i8).is_ok()
        }
        _ => false,
    }
}

/// strfmt's `IsDateTime`: a full date, a `t`, and a time of day checked by a loose pattern.
fn is_date_time(text: &str) -> bool {
    if text.len() < 4 {
        return false;
    }
    let lower = text.to_lowercase();
    let mut parts = lower.split('t');
    let (Some(date), Some(time)) = (parts.next(), parts.next()) else {
        return false;
    };
    if !is_full_date(date) {
        return false;
    }
    let Some(captures) = TIME_OF_DAY.captures(time) else {
        return false;
    };
    let part = |i: usize| captures.get(i).map_or("", |m| m.as_str());
    part(1) <= "23" && part(2) <= "59" && part(3) <= "59"
}

fn digits_of(text: &str) -> Vec<u32> {
    text.chars()
        .filter(|c| *c != '-' && *c != ' ')
        .filter_map(|c| c.to_digit(10))
        .collect()
}

fn is_isbn10(text: &str) -> bool {
    let cleaned: String = text.chars().filter(|c| *c != '-' && *c != ' ').collect();
    if cleaned.len() != 10 {
        return false;
    }
    let mut sum = 0;
    for (i, c) in cleaned.chars().enumerate() {
        let value = match c {
            'X' if i == 9 => 10,
            c => match c.to_digit(10) {
                Some(d) => d,
                None => return false,
            },
        };
        sum += (10 - i as u32) * value;
    }
    sum.is_multiple_of(11)
}

fn is_isbn13(text: &str) -> bool {
    let cleaned: String = text.chars().filter(|c| *c != '-' && *c != ' ').collect();
    let digits = digits_of(&cleaned);
    if cleaned.len() != 13 || digits.len() != 13 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { *d } else { 3 * d })
        .sum();
    sum.is_multiple_of(10)
}

fn is_credit_card(text: &str) -> bool {
    let cleaned: String = text.chars().filter(char::is_ascii_digit).collect();
    if cleaned.len() < 12 {
        return false;
    }
    let mut sum = 0;
    for (i, d) in cleaned
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
    {
        sum += if i % 2 == 1 {
            let doubled = d * 2;
            if doubled > 9 { doubled - 9 } else { doubled }
        } else {
            d
        };
    }
    sum.is_multiple_of(10)
}
