//! `GET /Groups/{id}` for groups of any size: the member list is written out in chunks as it is
//! read from the index, inside one read snapshot, never held in memory all at once.

use serde_json::{json, Map, Value};

use super::render::{member_display, Derive};
use super::view::stored;
use super::{from_store, Directory};
use crate::scim::projection::Projection;
use crate::scim::resource::meta_str;
use crate::scim::{ResourceKind, ScimError};
use crate::store::{Kind, ReadTx};

/// Bytes gathered before a chunk is handed to the writer.
const CHUNK_BYTES: usize = 64 * 1024;

/// The answer to a GET of one group.
pub enum GroupGet {
    /// Members not wanted: the whole (small) resource and its `meta.version`.
    Whole(Value, Option<String>),
    /// Members wanted: call [`GroupStream::write`] to produce the body.
    Stream(Box<GroupStream>),
}

/// A group's representation, ready to be written out. Holds the read snapshot, so the members
/// written are exactly those of the moment the request was answered.
pub struct GroupStream {
    tx: ReadTx,
    id: String,
    /// The serialized resource up to (not including) its closing brace, without `meta`.
    head: String,
    meta: Option<Value>,
    projection: Option<Projection>,
    version: Option<String>,
    /// `members[].display` was asked for: one extra read per member.
    display: bool,
    base_url: String,
    reg: crate::scim::Registry,
}

impl Directory {
    /// GET of one group; streams members unless the client excluded them.
    pub fn get_group(
        &self,
        id: &str,
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<GroupGet, ScimError> {
        let kind = ResourceKind::Group;
        let projection = Projection::parse(&self.reg, kind, attributes, excluded)?;
        if projection.excludes("members") {
            return self
                .get(kind, id, attributes, excluded)
                .map(|(v, version)| GroupGet::Whole(v, version));
        }
        let tx = self.store.read().map_err(from_store)?;
        let doc = stored(&tx, kind, id)?;
        let version = meta_str(&doc, "version").map(str::to_string);
        let rendered = self.render(
            &tx,
            kind,
            doc,
            Derive {
                members: false,
                groups: false,
                member_display: false,
            },
        )?;
        let Value::Object(mut head) = projection.apply(&self.reg, kind, rendered) else {
            return Err(ScimError::internal("a group renders as an object"));
        };
        let meta = head.remove("meta");
        let mut text = serde_json::to_string(&Value::Object(head))
            .map_err(|e| ScimError::internal(format!("cannot serialize group {id}: {e}")))?;
        text.pop(); // the closing brace: members and meta follow
        let has_projection = attributes.is_some() || excluded.is_some();
        Ok(GroupGet::Stream(Box::new(GroupStream {
            tx,
            id: id.to_string(),
            head: text,
            meta,
            display: projection.requests("members", "display"),
            version,
            projection: has_projection.then_some(projection),
            base_url: self.base_url.clone(),
            reg: crate::scim::Registry::clone(&self.reg),
        })))
    }
}

impl GroupStream {
    /// The group's `meta.version`, for `ETag` and `If-None-Match`.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// Writes the whole representation through `emit`, chunk by chunk. `emit` returns false when
    /// the client has gone, which stops the walk.
    pub fn write(self, emit: &mut dyn FnMut(Vec<u8>) -> bool) -> Result<(), ScimError> {
        let mut buf = Vec::with_capacity(CHUNK_BYTES + 1024);
        buf.extend_from_slice(self.head.as_bytes());
        if self.head.len() > 1 {
            buf.push(b',');
        }
        buf.extend_from_slice(b"\"members\":[");
        let mut first = true;
        let mut gone = false;
        let tx = &self.tx;
        tx.for_each_member(&self.id, &mut |mid| {
            let member_kind = if tx.exists(Kind::User, mid)? {
                ResourceKind::User
            } else {
                ResourceKind::Group
            };
            let mut entry = json!({
                "value": mid,
                "$ref": format!("{}/{}/{mid}", self.base_url, member_kind.endpoint()),
                "type": member_kind.name(),
            });
            if self.display {
                if let (Some(d), Some(o)) =
                    (member_display(tx, member_kind, mid), entry.as_object_mut())
                {
                    o.insert("display".into(), d);
                }
            }
            if let Some(p) = &self.projection {
                let mut wrapper = Map::new();
                wrapper.insert("members".into(), Value::Array(vec![entry]));
                entry = p
                    .apply(&self.reg, ResourceKind::Group, Value::Object(wrapper))
                    .get_mut("members")
                    .and_then(|m| m.as_array_mut())
                    .and_then(|a| a.pop())
                    .unwrap_or(Value::Object(Map::new()));
            }
            if !first {
                buf.push(b',');
            }
            first = false;
            // Writing JSON into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut buf, &entry);
            if buf.len() >= CHUNK_BYTES {
                if !emit(std::mem::take(&mut buf)) {
                    gone = true;
                    return Ok(false);
                }
                buf.reserve(CHUNK_BYTES + 1024);
            }
            Ok(true)
        })
        .map_err(from_store)?;
        if gone {
            return Ok(());
        }
        buf.push(b']');
        if let Some(meta) = &self.meta {
            buf.extend_from_slice(b",\"meta\":");
            let _ = serde_json::to_writer(&mut buf, meta);
        }
        buf.push(b'}');
        emit(buf);
        Ok(())
    }
}
