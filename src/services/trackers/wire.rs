//! Lenient decoding of tracker JSON into the providers' `Deserialize` structs.
//!
//! Trackers omit fields, send `null`, or (self-hosted versions, proxies) a different type than
//! documented. A field of an unexpected type reads as absent, never as an error, so a typed
//! struct accepts everything a walk over the `Value` with `.get(…)` accepts. The rule for the
//! structs: every field is `#[serde(default)]` (on the container) and, unless it is a
//! `serde_json::Value`, decoded through one of the `deserialize_with` helpers here; then decoding
//! an object cannot fail.
//!
//! Some callers need to know whether a key was there at all (GitHub's `pull_request`, even
//! `null`, marks a pull request; a Jira issue with a `key` of the wrong type fails the sync
//! rather than being skipped): the `present*` helpers give `Some`/`true` for any value,
//! `null` included, and `None`/`false` only when the key is missing.

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, IgnoredAny};
use serde_json::Value;

/// `T` from a JSON object; anything else (null, a string, an array …) gives `T::default()`, as
/// a walk over a non-object found nothing.
pub fn obj<T: DeserializeOwned + Default>(v: Value) -> T {
    match v {
        Value::Object(_) => T::deserialize(v).unwrap_or_else(|e| {
            // Cannot happen while every field follows the module's rule; never fail a sync on it.
            tracing::warn!("tracker JSON not decoded ({e}); read as empty");
            T::default()
        }),
        _ => T::default(),
    }
}

/// Every element of a JSON array as `T` (non-objects as `T::default()`, keeping their place);
/// anything but an array gives no elements.
pub fn objs<T: DeserializeOwned + Default>(v: Value) -> Vec<T> {
    match v {
        Value::Array(a) => a.into_iter().map(obj).collect(),
        _ => Vec::new(),
    }
}

/// The elements of a JSON array that decode as `T`, the others skipped.
fn some_of<T: DeserializeOwned>(v: Value) -> Vec<T> {
    match v {
        Value::Array(a) => a
            .into_iter()
            .filter_map(|e| T::deserialize(e).ok())
            .collect(),
        _ => Vec::new(),
    }
}

fn string_of(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// A string or a number as text (`5` → `"5"`): trackers' ids are either.
fn id_of(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A string; any other type reads as absent.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(string_of(Value::deserialize(d)?))
}

/// An id given as a string or a number.
pub fn id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(id_of(Value::deserialize(d)?))
}

/// A non-negative integer.
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Value::deserialize(d)?.as_u64())
}

/// A boolean.
pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(Value::deserialize(d)?.as_bool())
}

/// An object as `T`; null and other types read as absent.
pub fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    Ok(match Value::deserialize(d)? {
        v @ Value::Object(_) => Some(obj(v)),
        _ => None,
    })
}

/// An array of objects (see [`objs`]).
pub fn objects<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    Ok(objs(Value::deserialize(d)?))
}

/// An array of objects, `None` when the value is not an array at all.
pub fn array<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    Ok(match Value::deserialize(d)? {
        v @ Value::Array(_) => Some(objs(v)),
        _ => None,
    })
}

/// The elements of an array, whatever their type; anything but an array gives none.
pub fn values<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(a) => a,
        _ => Vec::new(),
    })
}

/// The strings of an array; other elements skipped.
pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(some_of(Value::deserialize(d)?))
}

/// A label as GitHub and GitLab send it: a bare string or an object with a string `name`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Label {
    Bare(String),
    Named { name: String },
}

/// Label names (strings or `{"name": …}` objects); other elements skipped.
pub fn labels<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(some_of::<Label>(Value::deserialize(d)?)
        .into_iter()
        .map(|l| match l {
            Label::Bare(s) | Label::Named { name: s } => s,
        })
        .collect())
}

/// One object, or the first element of an array of them (GitLab's `assignee`/`assignees`,
/// `author`); null and other types read as absent.
pub fn one_or_first<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    Ok(match Value::deserialize(d)? {
        Value::Array(a) => a.into_iter().next().map(obj),
        v @ Value::Object(_) => Some(obj(v)),
        _ => None,
    })
}

/// Whether the key is there, whatever its value (`null` included).
pub fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d)?;
    Ok(true)
}

/// `Some(id)` when the key is there (the id itself `None` unless a string or number).
pub fn present_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(id_of(Value::deserialize(d)?)))
}

/// `Some(string)` when the key is there (the string itself `None` unless a string).
pub fn present_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(string_of(Value::deserialize(d)?)))
}

/// `Some(number)` when the key is there (the number itself `None` unless a non-negative integer).
pub fn present_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Ok(Some(Value::deserialize(d)?.as_u64()))
}

/// `Some(value)` when the key is there (`null` included).
pub fn present_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Ok(Some(Value::deserialize(d)?))
}

/// `Some(T)` when the key is there: an object as `T`, anything else (null too) as `T::default()`.
pub fn present_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    Ok(Some(obj(Value::deserialize(d)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize, Default, Debug, PartialEq)]
    #[serde(default)]
    struct Inner {
        #[serde(deserialize_with = "string")]
        name: Option<String>,
    }

    #[derive(Deserialize, Default, Debug, PartialEq)]
    #[serde(default)]
    struct Probe {
        #[serde(deserialize_with = "string")]
        s: Option<String>,
        #[serde(deserialize_with = "id")]
        id: Option<String>,
        #[serde(deserialize_with = "u64")]
        n: Option<u64>,
        #[serde(deserialize_with = "bool")]
        b: Option<bool>,
        #[serde(deserialize_with = "object")]
        o: Option<Inner>,
        #[serde(deserialize_with = "objects")]
        os: Vec<Inner>,
        #[serde(deserialize_with = "array")]
        arr: Option<Vec<Inner>>,
        #[serde(deserialize_with = "strings")]
        ss: Vec<String>,
        #[serde(deserialize_with = "labels")]
        labels: Vec<String>,
        #[serde(deserialize_with = "one_or_first")]
        first: Option<Inner>,
        #[serde(deserialize_with = "present")]
        p: bool,
        #[serde(deserialize_with = "present_id")]
        pid: Option<Option<String>>,
        #[serde(deserialize_with = "present_string")]
        ps: Option<Option<String>>,
        #[serde(deserialize_with = "present_u64")]
        pn: Option<Option<u64>>,
        #[serde(deserialize_with = "present_object")]
        po: Option<Inner>,
        #[serde(deserialize_with = "present_value")]
        pv: Option<Value>,
        #[serde(deserialize_with = "values")]
        vs: Vec<Value>,
        raw: Option<Value>,
    }

    #[test]
    fn well_typed_values_are_read() {
        let p: Probe = obj(json!({
            "s": "x", "id": 7, "n": 3, "b": true, "o": {"name": "a"},
            "os": [{"name": "b"}, 1], "arr": [{"name": "c"}], "ss": ["d", 2, "e"],
            "labels": ["bug", {"name": "ci"}, {"color": "red"}, 5], "first": [{"name": "f"}],
            "p": null, "pid": "ABC-1", "ps": "k", "pn": 9, "po": null, "pv": null,
            "vs": [1, "a", null], "raw": {"type": "doc"},
            "unknown": {"deep": [1, 2]}
        }));
        assert_eq!(p.s.as_deref(), Some("x"));
        assert_eq!(p.id.as_deref(), Some("7"));
        assert_eq!((p.n, p.b), (Some(3), Some(true)));
        assert_eq!(p.o.and_then(|o| o.name).as_deref(), Some("a"));
        assert_eq!(
            p.os,
            vec![
                Inner {
                    name: Some("b".into())
                },
                Inner::default()
            ],
            "non-objects keep their place"
        );
        assert_eq!(p.arr.map(|a| a.len()), Some(1));
        assert_eq!(p.ss, vec!["d", "e"]);
        assert_eq!(p.labels, vec!["bug", "ci"]);
        assert_eq!(p.first.and_then(|o| o.name).as_deref(), Some("f"));
        assert!(p.p, "a null value is still there");
        assert_eq!(p.pid, Some(Some("ABC-1".into())));
        assert_eq!(p.ps, Some(Some("k".into())));
        assert_eq!(p.pn, Some(Some(9)));
        assert_eq!(p.po, Some(Inner::default()));
        assert_eq!(p.pv, Some(Value::Null));
        assert_eq!(p.vs, vec![json!(1), json!("a"), Value::Null]);
        assert_eq!(p.raw, Some(json!({"type": "doc"})));
    }

    #[test]
    fn wrong_types_read_as_absent_and_missing_keys_as_not_there() {
        let p: Probe = obj(json!({
            "s": 1, "id": {"x": 1}, "n": -1, "b": "yes", "o": "text", "os": {"name": "x"},
            "arr": {"name": "x"}, "ss": "x", "labels": {"name": "x"}, "first": "x",
            "pid": null, "ps": 5, "pn": "9", "vs": {"a": 1}, "raw": null
        }));
        assert_eq!(
            p,
            Probe {
                pid: Some(None),
                ps: Some(None),
                pn: Some(None),
                ..Probe::default()
            }
        );
        assert_eq!(obj::<Probe>(json!(null)), Probe::default());
        assert_eq!(obj::<Probe>(json!(["s", "x"])), Probe::default());
        assert_eq!(obj::<Probe>(json!("text")), Probe::default());
        assert!(objs::<Probe>(json!({"s": "x"})).is_empty());
        let p: Probe = obj(json!({"first": [], "o": null}));
        assert_eq!((p.first, p.o), (None, None));
    }
}
