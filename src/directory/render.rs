//! The full representation of a stored resource: the document plus what the server derives
//! (`meta.location`, `User.groups`, `Group.members`).

use serde_json::{json, Map, Value};

use super::view::View;
use super::{from_store, store_kind, Directory};
use crate::scim::{ResourceKind, ScimError};
use crate::store::Kind;

/// Which derived attributes to compute; `members` of a large group is worth skipping when the
/// client excluded it (Entra always sends `excludedAttributes=members`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Derive {
    pub members: bool,
    pub groups: bool,
    /// `members[].display`, returned on request only: it costs a read per member.
    pub member_display: bool,
}

impl Derive {
    pub const ALL: Derive = Derive {
        members: true,
        groups: true,
        member_display: false,
    };
}

/// The display name of a member: a User's displayName, else its userName; a Group's displayName.
pub(crate) fn member_display(view: &dyn View, kind: ResourceKind, id: &str) -> Option<Value> {
    let doc = view.get(store_kind(kind), id).ok()??;
    doc.get("displayName")
        .or_else(|| doc.get("userName"))
        .cloned()
}

impl Directory {
    pub(crate) fn location(&self, kind: ResourceKind, id: &str) -> String {
        format!("{}/{}/{id}", self.base_url, kind.endpoint())
    }

    /// A user's derived `groups`; `None` when the user is in no group (the attribute is then
    /// left out).
    pub(crate) fn derived_groups(
        &self,
        view: &dyn View,
        id: &str,
    ) -> Result<Option<Value>, ScimError> {
        let groups = view.groups_of(id).map_err(from_store)?;
        if groups.is_empty() {
            return Ok(None);
        }
        let mut list = Vec::with_capacity(groups.len());
        for gid in groups {
            let mut entry = Map::new();
            entry.insert("value".into(), json!(gid));
            entry.insert(
                "$ref".into(),
                json!(self.location(ResourceKind::Group, &gid)),
            );
            if let Some(name) = view
                .get_member(Kind::Group, &gid, "displayName")
                .map_err(from_store)?
            {
                entry.insert("display".into(), name);
            }
            entry.insert("type".into(), json!("direct"));
            list.push(Value::Object(entry));
        }
        Ok(Some(Value::Array(list)))
    }

    /// Adds the derived attributes to a stored document.
    pub(crate) fn render(
        &self,
        view: &dyn View,
        kind: ResourceKind,
        mut doc: Value,
        derive: Derive,
    ) -> Result<Value, ScimError> {
        self.render_in_place(view, kind, &mut doc, derive)?;
        Ok(doc)
    }

    /// [`Directory::render`] on a document the caller keeps: on an error `doc` is left as it
    /// was (every read comes before the first change), so a write's reply can fall back to it
    /// without having cloned it first.
    pub(crate) fn render_in_place(
        &self,
        view: &dyn View,
        kind: ResourceKind,
        doc: &mut Value,
        derive: Derive,
    ) -> Result<(), ScimError> {
        let id = doc
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let location = self.location(kind, &id);
        let Value::Object(obj) = doc else {
            return Err(ScimError::internal("stored resource is not an object"));
        };
        match kind {
            ResourceKind::User if derive.groups => {
                if let Some(groups) = self.derived_groups(view, &id)? {
                    insert_before_meta(obj, "groups", groups);
                }
            }
            ResourceKind::Group if derive.members => {
                let members = view.members(&id).map_err(from_store)?;
                let mut list = Vec::with_capacity(members.len());
                for mid in members {
                    let member_kind = if view.exists(Kind::User, &mid).map_err(from_store)? {
                        ResourceKind::User
                    } else {
                        ResourceKind::Group
                    };
                    let mut entry = json!({
                        "value": mid,
                        "$ref": self.location(member_kind, &mid),
                        "type": member_kind.name(),
                    });
                    if derive.member_display {
                        if let (Some(d), Some(o)) = (
                            member_display(view, member_kind, &mid),
                            entry.as_object_mut(),
                        ) {
                            o.insert("display".into(), d);
                        }
                    }
                    list.push(entry);
                }
                insert_before_meta(obj, "members", Value::Array(list));
            }
            _ => {}
        }
        // Never-returned attributes (password) are not stored; this also keeps any that an
        // older version stored out of every response.
        for attr in self.reg.top_level(kind) {
            if attr.returned == crate::scim::schema::Returned::Never {
                obj.remove(&attr.name);
            }
        }
        if let Some(Value::Object(meta)) = obj.get_mut("meta") {
            meta.insert("location".into(), Value::String(location));
        }
        Ok(())
    }
}

/// Keeps `meta` last in the output, where people expect it.
fn insert_before_meta(obj: &mut Map<String, Value>, key: &str, value: Value) {
    let meta = obj.remove("meta");
    obj.insert(key.to_string(), value);
    if let Some(m) = meta {
        obj.insert("meta".into(), m);
    }
}
