//! Group membership changes. Members are index entries, never part of the group document:
//! adding k members costs k index inserts whatever the group's size.

use serde_json::{json, Value};

use super::audit::MemberDelta;
use super::DirError;
use crate::scim::compat::OpKind;
use crate::scim::filter::Filter;
use crate::scim::patch::{value_eq_ids, Operation};
use crate::scim::path::PatchPath;
use crate::scim::schema::Attribute;
use crate::scim::value::coerce;
use crate::scim::{Registry, ResourceKind, ScimError};
use crate::store::{Kind, WriteTx};

#[derive(Debug, Clone)]
pub(crate) enum MemberChange {
    Add(Vec<String>),
    /// The full member list (PUT, `replace members`): only the difference is written, so an
    /// unchanged list changes nothing, not even `meta.lastModified`.
    Set(Vec<String>),
    Remove(Vec<String>),
    RemoveMatching(Filter),
    Clear,
}

fn members_def(reg: &Registry) -> Result<&Attribute, ScimError> {
    reg.resolve(ResourceKind::Group, None, "members")
        .map(|r| r.attr)
        .ok_or_else(|| ScimError::internal("the Group schema has no members attribute"))
}

/// The member ids in a `members` value: `[{"value": id, …}]`, one object, or bare strings.
pub(crate) fn member_ids(reg: &Registry, value: &Value) -> Result<Vec<String>, ScimError> {
    let def = members_def(reg)?;
    let Some(Value::Array(items)) = coerce(def, value, "members")? else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.get("value")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    ScimError::invalid_value(format!(
                        "members[{i}] has no \"value\": each member must name the id of a User or Group"
                    ))
                })
        })
        .collect()
}

/// Turns the PATCH operations that target `members` into membership changes.
pub(crate) fn changes_from_ops(
    reg: &Registry,
    ops: &[Operation],
) -> Result<Vec<MemberChange>, ScimError> {
    let mut out = Vec::new();
    for op in ops {
        let PatchPath::Attr { filter, sub, attr } = &op.path else {
            continue;
        };
        if attr.sub.is_some() || sub.is_some() {
            return Err(ScimError::invalid_path(format!(
                "\"{attr}\": a member's sub-attributes cannot be changed; add or remove the member instead"
            )));
        }
        match (op.op, filter) {
            (OpKind::Add, None) => {
                out.push(MemberChange::Add(member_ids(reg, op.value.as_ref().unwrap_or(&Value::Null))?))
            }
            (OpKind::Replace, None) => {
                // Okta, Keycloak and the Netskope SDK send the full member list this way;
                // an empty list empties the group.
                out.push(MemberChange::Set(member_ids(reg, op.value.as_ref().unwrap_or(&Value::Null))?));
            }
            (OpKind::Remove, None) => out.push(MemberChange::Clear),
            (OpKind::Remove, Some(f)) => match value_eq_ids(f) {
                _ if !filters_on_value_or_type(f) => {
                    return Err(ScimError::invalid_path(format!(
                        "\"{attr}[…]\": members can be selected by \"value\" or \"type\" only"
                    )))
                }
                Some(ids) => out.push(MemberChange::Remove(ids)),
                None => out.push(MemberChange::RemoveMatching(f.clone())),
            },
            (_, Some(_)) => {
                return Err(ScimError::invalid_path(
                    "members cannot be replaced through a filter; remove the matching members and add the new ones",
                ))
            }
        }
    }
    Ok(out)
}

/// Whether a member filter names only `value` and `type`, the sub-attributes a member entry
/// has in the index; anything else would silently match nothing.
fn filters_on_value_or_type(f: &Filter) -> bool {
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => {
            filters_on_value_or_type(a) && filters_on_value_or_type(b)
        }
        Filter::Not(a) => filters_on_value_or_type(a),
        Filter::Present(p) | Filter::Compare { attr: p, .. } => {
            p.urn.is_none()
                && p.sub.is_none()
                && (p.name.eq_ignore_ascii_case("value") || p.name.eq_ignore_ascii_case("type"))
        }
        Filter::ValuePath { .. } => false,
    }
}

/// Checks that every id to be added is an existing User or Group other than the group itself.
pub(crate) fn validate_new_members(
    tx: &WriteTx<'_>,
    group_id: &str,
    ids: &[String],
) -> Result<(), DirError> {
    for id in ids {
        if id == group_id {
            return Err(ScimError::invalid_value(format!(
                "group {group_id} cannot be a member of itself"
            ))
            .into());
        }
        if !tx.exists(Kind::User, id)? && !tx.exists(Kind::Group, id)? {
            return Err(ScimError::invalid_value(format!(
                "member \"{id}\" is not the id of an existing User or Group; create it first, then add it"
            ))
            .into());
        }
    }
    Ok(())
}

/// Applies the changes; returns the edges really added and removed.
///
/// Everything that can refuse is checked before the first edge changes, so a refusal leaves
/// the transaction as it was (the writer batches other requests' operations with this one).
/// Member edits create and delete no resources, so checking every change up front sees the
/// same ids as checking each one in turn would.
pub(crate) fn apply_changes(
    reg: &Registry,
    tx: &mut WriteTx<'_>,
    group_id: &str,
    changes: &[MemberChange],
) -> Result<MemberDelta, DirError> {
    for c in changes {
        match c {
            MemberChange::Add(ids) | MemberChange::Set(ids) => {
                validate_new_members(tx, group_id, ids)?;
            }
            MemberChange::RemoveMatching(_) => {
                members_def(reg)?;
            }
            MemberChange::Remove(_) | MemberChange::Clear => {}
        }
    }
    let mut delta = MemberDelta::default();
    for c in changes {
        match c {
            MemberChange::Add(ids) => {
                for id in ids {
                    // Re-adding an existing member is a no-op, never a 409 (Entra G5, JumpCloud).
                    if tx.add_member(group_id, id)? {
                        delta.add(id);
                    }
                }
            }
            MemberChange::Remove(ids) => {
                for id in ids {
                    // Removing a non-member succeeds (Entra G6).
                    if tx.remove_member(group_id, id)? {
                        delta.remove(id);
                    }
                }
            }
            // Counted, not listed: clearing a million-member group must not collect its ids.
            MemberChange::Clear => delta.removed_count += tx.clear_members(group_id)?,
            MemberChange::Set(ids) => {
                let wanted: std::collections::HashSet<&str> =
                    ids.iter().map(String::as_str).collect();
                let current = tx.members(group_id)?;
                let present: std::collections::HashSet<&str> =
                    current.iter().map(String::as_str).collect();
                let added: Vec<String> = ids
                    .iter()
                    .filter(|id| !present.contains(id.as_str()))
                    .cloned()
                    .collect();
                for id in current.iter().filter(|id| !wanted.contains(id.as_str())) {
                    if tx.remove_member(group_id, id)? {
                        delta.remove(id);
                    }
                }
                for id in &added {
                    if tx.add_member(group_id, id)? {
                        delta.add(id);
                    }
                }
            }
            MemberChange::RemoveMatching(f) => {
                let def = members_def(reg)?;
                let mut doomed = Vec::new();
                for id in tx.members(group_id)? {
                    let ty = if tx.exists(Kind::User, &id)? {
                        "User"
                    } else {
                        "Group"
                    };
                    if f.matches_element(&json!({"value": id, "type": ty}), def) {
                        doomed.push(id);
                    }
                }
                for id in doomed {
                    if tx.remove_member(group_id, &id)? {
                        delta.remove(&id);
                    }
                }
            }
        }
    }
    Ok(delta)
}
