//! Records as bytes, and the index keys derived from them.
//!
//! Both the writer and `verify` derive keys through [`IndexKeys::of`], so the two can never
//! disagree about what a record's index entries should be.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{Kind, StoreError};

/// The top-level attribute holding a user's unique name.
const USER_NAME: &str = "userName";
/// The top-level attribute holding a group's name.
const DISPLAY_NAME: &str = "displayName";
/// The top-level attribute holding the provisioning client's own id.
const EXTERNAL_ID: &str = "externalId";
/// The attribute holding a record's `lastModified`.
const META: &str = "meta";
const LAST_MODIFIED: &str = "lastModified";

/// The index keys of one record, already normalised (lower-cased where the index is
/// case-insensitive). `None` means the record has no entry in that index.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct IndexKeys {
    /// `lower(userName)`; users only.
    pub(super) user_name: Option<String>,
    /// `displayName` lower-cased; groups only.
    pub(super) display_name: Option<String>,
    /// `externalId`, exact: RFC 7643 §3.1 makes externalId caseExact.
    pub(super) external_id: Option<String>,
    /// `meta.lastModified` as a [`time_key`]: both kinds.
    pub(super) modified: Option<String>,
}

impl IndexKeys {
    /// Derives the index keys of `doc`, a record of `kind`.
    ///
    /// An absent or `null` attribute has no key; any other non-string is refused, because a
    /// key the index cannot hold would make the record unfindable.
    pub(super) fn of(kind: Kind, doc: &Value) -> Result<IndexKeys, StoreError> {
        let obj = doc
            .as_object()
            .ok_or_else(|| StoreError::InvalidRecord(format!("a {kind} must be a JSON object")))?;
        let text = |name: &str| -> Result<Option<&str>, StoreError> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(StoreError::InvalidRecord(format!(
                    "{kind} attribute {name:?} must be a string"
                ))),
            }
        };
        let external_id = text(EXTERNAL_ID)?.map(str::to_owned);
        // A timestamp that does not parse has no key, and cannot match a time comparison in a
        // filter either (the evaluator parses the same way). One that parses but lies outside
        // years 0000–9999 in UTC has no key either, yet the evaluator could match it: only the
        // server writes lastModified, always as the current UTC time, so none exists.
        let modified = obj
            .get(META)
            .and_then(|m| m.get(LAST_MODIFIED))
            .and_then(Value::as_str)
            .and_then(time_key);
        Ok(match kind {
            Kind::User => IndexKeys {
                user_name: text(USER_NAME)?.map(str::to_lowercase),
                display_name: None,
                external_id,
                modified,
            },
            Kind::Group => IndexKeys {
                user_name: None,
                display_name: text(DISPLAY_NAME)?.map(str::to_lowercase),
                external_id,
                modified,
            },
        })
    }
}

/// An RFC 3339 timestamp as an index key: UTC with nanoseconds, fixed width, so that byte order
/// is time order whatever offset or precision the timestamp was written with. Years outside
/// 0000–9999 (which would break the fixed width) have no key.
pub fn time_key(s: &str) -> Option<String> {
    // checked: a timestamp near year 9999 with a negative offset lies past what `time`
    // represents once moved to UTC, and the unchecked conversion panics.
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .ok()?
        .checked_to_offset(time::UtcOffset::UTC)?;
    if !(0..=9999).contains(&t.year()) {
        return None;
    }
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond()
    ))
}

/// The userName of a user record as given (not lower-cased), for error messages.
pub(super) fn user_name_as_given(doc: &Value) -> String {
    doc.get(USER_NAME)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Serializes a record for storage.
pub(super) fn encode(kind: Kind, doc: &Value) -> Result<Vec<u8>, StoreError> {
    // Serializing a `Value` cannot fail in practice (its map keys are strings and its numbers are
    // finite), but the signature says it can, and this is not the place to find out otherwise.
    serde_json::to_vec(doc)
        .map_err(|e| StoreError::InvalidRecord(format!("cannot serialize the {kind}: {e}")))
}

/// Deserializes a stored record; anything but a JSON object is corruption.
pub(super) fn decode(kind: Kind, id: &str, bytes: &[u8]) -> Result<Value, StoreError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err(StoreError::Corrupt(format!(
            "{kind} record {id:?} is not a JSON object"
        ))),
        Err(e) => Err(StoreError::Corrupt(format!(
            "{kind} record {id:?} is not valid JSON: {e}"
        ))),
    }
}

/// The top-level member `name` of a stored record, the rest skipped rather than built (a
/// group's displayName, read for every group of every rendered user). Errors as [`decode`].
pub(super) fn decode_member(
    kind: Kind,
    id: &str,
    bytes: &[u8],
    name: &str,
) -> Result<Option<Value>, StoreError> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

    struct Seek<'n>(&'n str);
    impl<'de> DeserializeSeed<'de> for Seek<'_> {
        type Value = Option<Value>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for Seek<'_> {
        type Value = Option<Value>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(key) = map.next_key::<String>()? {
                if key == self.0 {
                    // The last of duplicate keys, as a `Value` map keeps it.
                    found = Some(map.next_value::<Value>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }

    let mut de = serde_json::Deserializer::from_slice(bytes);
    let member = Seek(name)
        .deserialize(&mut de)
        .and_then(|m| de.end().map(|()| m));
    member.map_err(|e| {
        if e.is_data() {
            StoreError::Corrupt(format!("{kind} record {id:?} is not a JSON object"))
        } else {
            StoreError::Corrupt(format!("{kind} record {id:?} is not valid JSON: {e}"))
        }
    })
}
