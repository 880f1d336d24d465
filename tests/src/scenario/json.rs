//! A small JSON value and writer, for the simulator's figures (no serde in the test-support
//! library). Numbers are written with at most six decimals; NaN and infinities as `null`.

use std::fmt::{self, Display, Write};

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A number.
    Num(f64),
    /// A string.
    Str(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, its members in order.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// An object from `(name, value)` pairs.
    pub fn object<K: Into<String>>(members: impl IntoIterator<Item = (K, Json)>) -> Json {
        Json::Object(members.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A member of an object.
    pub fn get(&self, name: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Adds (or replaces) a member of an object.
    pub fn set(&mut self, name: &str, value: Json) {
        if let Json::Object(members) = self {
            match members.iter_mut().find(|(k, _)| k == name) {
                Some((_, old)) => *old = value,
                None => members.push((name.to_owned(), value)),
            }
        }
    }

    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Int(value) => Some(*value as f64),
            Json::Num(value) => Some(*value),
            _ => None,
        }
    }

    /// The object with one member per line (nested values on one line each).
    pub fn pretty(&self) -> String {
        match self {
            Json::Object(members) if !members.is_empty() => {
                let mut out = String::from("{\n");
                for (index, (name, value)) in members.iter().enumerate() {
                    let comma = if index + 1 < members.len() { "," } else { "" };
                    let _ = writeln!(out, "  {}: {value}{comma}", Json::Str(name.clone()));
                }
                out.push('}');
                out
            }
            other => other.to_string(),
        }
    }
}

impl Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(value) => write!(f, "{value}"),
            Json::Int(value) => write!(f, "{value}"),
            Json::Num(value) if value.is_finite() => {
                let rounded = (value * 1e6).round() / 1e6;
                if rounded == rounded.trunc() && rounded.abs() < 1e15 {
                    write!(f, "{}", rounded as i64)
                } else {
                    write!(f, "{rounded}")
                }
            }
            Json::Num(_) => f.write_str("null"),
            Json::Str(text) => {
                f.write_char('"')?;
                for c in text.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
                        c => f.write_char(c)?,
                    }
                }
                f.write_char('"')
            }
            Json::Array(items) => {
                f.write_char('[')?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_char(']')
            }
            Json::Object(members) => {
                f.write_char('{')?;
                for (index, (name, value)) in members.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}: {value}", Json::Str(name.clone()))?;
                }
                f.write_char('}')
            }
        }
    }
}

impl From<bool> for Json {
    fn from(value: bool) -> Json {
        Json::Bool(value)
    }
}

impl From<f64> for Json {
    fn from(value: f64) -> Json {
        Json::Num(value)
    }
}

impl From<usize> for Json {
    fn from(value: usize) -> Json {
        Json::Int(value as i64)
    }
}

impl From<u64> for Json {
    fn from(value: u64) -> Json {
        Json::Int(value as i64)
    }
}

impl From<&str> for Json {
    fn from(value: &str) -> Json {
        Json::Str(value.to_owned())
    }
}

impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(value: Option<T>) -> Json {
        value.map_or(Json::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_json() {
        let value = Json::object([
            ("a", Json::from(1.5)),
            ("b", Json::from(f64::NAN)),
            ("c", Json::from("q\"\\\n\u{1}é")),
            (
                "d",
                Json::Array(vec![Json::from(3usize), Json::Null, Json::from(true)]),
            ),
            ("e", Json::from(2.0)),
            ("f", Json::from(1.0 / 3.0)),
        ]);
        assert_eq!(
            value.to_string(),
            r#"{"a": 1.5, "b": null, "c": "q\"\\\n\u0001é", "d": [3, null, true], "e": 2, "f": 0.333333}"#
        );
        assert!(value.pretty().starts_with("{\n  \"a\": 1.5,\n"));
    }
}
