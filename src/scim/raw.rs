//! A stored resource's default representation, written straight from its stored JSON.
//!
//! A lookup or a GET without `attributes`/`excludedAttributes` used to parse the stored record
//! into a `Value` tree, add the derived attributes, project the tree and serialize it again;
//! building, serializing and dropping those trees was about half of a lookup's instructions
//! (docs/PERFORMANCE.md). Here the record is split into its top-level members as raw JSON
//! text. Members returned whole are copied as they are; only what changes is parsed: `meta`,
//! which gains `location`, and declared extensions, which are narrowed to the attributes their
//! schema knows. The result is, as JSON, what `Projection::default().apply(render(doc))`
//! gives; a property test in `directory` holds the two paths together.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use super::projection::Projection;
use super::schema::{Registry, ResourceKind, URN_LIST_RESPONSE};

/// What the splice read on the way, for the response headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spliced {
    /// `meta.version`, for `ETag`.
    pub version: Option<String>,
}

/// Appends to `out` the default representation of `stored`, a stored document of `kind`:
/// `derived` (`("groups", …)`) is added, `location` goes into `meta`, and members the default
/// projection does not return are left out.
///
/// `None` (with `out` as it was) when `stored` is not a JSON object with distinct keys: the
/// caller then takes the `Value` path, which reports the problem as it always has.
pub fn write_default(
    reg: &Registry,
    kind: ResourceKind,
    stored: &[u8],
    derived: Option<(&str, &Value)>,
    location: &str,
    out: &mut Vec<u8>,
) -> Option<Spliced> {
    let members = distinct_members(stored)?;
    let start = out.len();
    let spliced = splice(reg, kind, &members, derived, location, out);
    if spliced.is_none() {
        out.truncate(start);
    }
    spliced
}

/// The members of a JSON object, when it is one and its keys are distinct: serde_json keeps
/// the last of duplicate keys, and copying both would change the answer.
fn distinct_members(json: &[u8]) -> Option<Vec<(Cow<'_, str>, &RawValue)>> {
    let Members(members) = serde_json::from_slice(json).ok()?;
    let distinct = members
        .iter()
        .enumerate()
        .all(|(i, (k, _))| members.iter().take(i).all(|(seen, _)| seen != k));
    distinct.then_some(members)
}

fn splice(
    reg: &Registry,
    kind: ResourceKind,
    members: &[(Cow<'_, str>, &RawValue)],
    derived: Option<(&str, &Value)>,
    location: &str,
    out: &mut Vec<u8>,
) -> Option<Spliced> {
    let mut w = ObjectWriter::open(out);
    let mut meta = None;
    for (key, raw) in members {
        if key == "meta" {
            // Last, as `render` puts it.
            meta = Some(*raw);
            continue;
        }
        if derived.is_some_and(|(name, _)| key == name) {
            continue; // the derived value replaces a stored one, as `render`'s insert does
        }
        match Projection::default_keeps(reg, kind, key) {
            Some(true) => w.raw(key, raw.get().as_bytes())?,
            Some(false) => {}
            None => {
                let mut v: Value = serde_json::from_str(raw.get()).ok()?;
                if Projection::default().retain_entry(reg, kind, key, &mut v) {
                    w.value(key, &v)?;
                }
            }
        }
    }
    if let Some((name, value)) = derived {
        // A derived attribute is a core one (`groups`), so it is kept or dropped whole.
        if Projection::default_keeps(reg, kind, name) == Some(true) {
            w.value(name, value)?;
        }
    }
    let mut version = None;
    if let Some(raw) = meta {
        version = match distinct_members(raw.get().as_bytes()) {
            Some(inner) if Projection::default_keeps(reg, kind, "meta") == Some(true) => {
                w.key("meta")?;
                let mut m = ObjectWriter::open(&mut *w.out);
                let mut version = None;
                for (k, v) in &inner {
                    if k == "version" {
                        version = serde_json::from_str::<Value>(v.get())
                            .ok()?
                            .as_str()
                            .map(str::to_string);
                    }
                    if k != "location" {
                        m.raw(k, v.get().as_bytes())?;
                    }
                }
                m.value("location", &Value::String(location.into()))?;
                m.close();
                version
            }
            // Not an object, or dropped by the projection: as `render` and `apply` treat it.
            _ => {
                let mut v: Value = serde_json::from_str(raw.get()).ok()?;
                let version = v.get("version").and_then(Value::as_str).map(str::to_string);
                if let Value::Object(m) = &mut v {
                    m.insert("location".into(), Value::String(location.into()));
                }
                if Projection::default().retain_entry(reg, kind, "meta", &mut v) {
                    w.value("meta", &v)?;
                }
                version
            }
        };
    }
    w.close();
    Some(Spliced { version })
}

/// Appends the opening of a ListResponse (RFC 7644 §3.4.2), the same members in the same
/// order as `discovery::list_response`; the caller appends the resources, separated by commas,
/// then [`close_list`].
pub fn open_list(out: &mut Vec<u8>, total: u64, items: usize, start_index: u64) {
    out.extend_from_slice(b"{\"schemas\":[\"");
    out.extend_from_slice(URN_LIST_RESPONSE.as_bytes());
    out.extend_from_slice(
        format!(
            "\"],\"totalResults\":{total},\"itemsPerPage\":{items},\"startIndex\":{start_index},\"Resources\":["
        )
        .as_bytes(),
    );
}

/// Closes what [`open_list`] opened.
pub fn close_list(out: &mut Vec<u8>) {
    out.extend_from_slice(b"]}");
}

/// The top-level keys of a JSON object in document order, duplicates included (which parsing
/// into a `Value` would hide).
#[cfg(test)]
pub(crate) fn top_level_keys(json: &[u8]) -> Option<Vec<String>> {
    let Members(members) = serde_json::from_slice(json).ok()?;
    Some(members.into_iter().map(|(k, _)| k.into_owned()).collect())
}

/// Writes `{"k":v,…}` member by member.
struct ObjectWriter<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        ObjectWriter { out, first: true }
    }

    fn key(&mut self, key: &str) -> Option<()> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        serde_json::to_writer(&mut *self.out, key).ok()?;
        self.out.push(b':');
        Some(())
    }

    fn raw(&mut self, key: &str, json: &[u8]) -> Option<()> {
        self.key(key)?;
        self.out.extend_from_slice(json);
        Some(())
    }

    fn value(&mut self, key: &str, v: &Value) -> Option<()> {
        self.key(key)?;
        serde_json::to_writer(&mut *self.out, v).ok()
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// A JSON object's members in document order, values as raw text borrowed from the input.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(16);
                while let Some(Key(k)) = map.next_key()? {
                    members.push((k, map.next_value::<&'de RawValue>()?));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(V)
    }
}

/// An object key, borrowed when it has no escapes (`Cow<str>`'s own impl always copies).
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn write(doc: &Value, derived: Option<(&str, &Value)>) -> Option<(Value, Spliced)> {
        let reg = Registry::new();
        let stored = serde_json::to_vec(doc).unwrap();
        let mut out = b"prefix".to_vec();
        let s = write_default(
            &reg,
            ResourceKind::User,
            &stored,
            derived,
            "https://h/u/1",
            &mut out,
        );
        match s {
            Some(s) => {
                assert!(out.starts_with(b"prefix"));
                Some((serde_json::from_slice(&out[6..]).unwrap(), s))
            }
            None => {
                assert_eq!(
                    out, b"prefix",
                    "a refused splice leaves the buffer as it was"
                );
                None
            }
        }
    }

    #[test]
    fn copies_returned_members_and_adds_location_and_derived_groups() {
        let doc = json!({
            "schemas": [USER],
            "id": "1",
            "userName": "a\"b",
            "meta": {"resourceType": "User", "version": "W/\"3\""},
            "name": {"givenName": "A"},
        });
        let groups = json!([{"value": "g1"}]);
        let (v, s) = write(&doc, Some(("groups", &groups))).unwrap();
        assert_eq!(s.version.as_deref(), Some("W/\"3\""));
        assert_eq!(
            v,
            json!({
                "schemas": [USER],
                "id": "1",
                "userName": "a\"b",
                "name": {"givenName": "A"},
                "groups": [{"value": "g1"}],
                "meta": {"resourceType": "User", "version": "W/\"3\"", "location": "https://h/u/1"},
            })
        );
    }

    #[test]
    fn leaves_out_what_the_default_projection_does_not_return() {
        let doc = json!({
            "id": "1",
            "userName": "a",
            "password": "kept by an old version",
            "notAnAttribute": 1,
            ENTERPRISE: {"department": "D", "bogus": 2},
            "urn:example:custom:2.0:User": {"x": 1},
        });
        let (v, s) = write(&doc, None).unwrap();
        assert_eq!(s.version, None);
        assert_eq!(
            v,
            json!({
                "id": "1",
                "userName": "a",
                ENTERPRISE: {"department": "D"},
                "urn:example:custom:2.0:User": {"x": 1},
            })
        );
    }

    #[test]
    fn escaped_keys_survive() {
        let doc = json!({"id": "1", "user\u{0}Name": "x", "userName": "a\\b"});
        let (v, _) = write(&doc, None).unwrap();
        assert_eq!(v, json!({"id": "1", "userName": "a\\b"}));
    }

    #[test]
    fn refuses_what_is_not_one_object_with_distinct_keys() {
        let reg = Registry::new();
        for bad in [
            &b"[1]"[..],
            b"\"s\"",
            b"{\"id\":",
            b"{\"id\":\"1\",\"id\":\"2\"}",
            b"{} x",
            b"",
        ] {
            let mut out = b"keep".to_vec();
            let r = write_default(&reg, ResourceKind::User, bad, None, "l", &mut out);
            assert_eq!(r, None, "{}", String::from_utf8_lossy(bad));
            assert_eq!(out, b"keep");
        }
    }

    #[test]
    fn list_frame_matches_list_response() {
        let one = json!({"id": "1"});
        let mut out = Vec::new();
        open_list(&mut out, 7, 1, 3);
        serde_json::to_writer(&mut out, &one).unwrap();
        close_list(&mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v, super::super::discovery::list_response(vec![one], 7, 3));
    }
}
