//! The query planner: which index, if any, can list a superset of a filter's matches.
//!
//! The planner never decides whether a resource matches; the filter is evaluated on every
//! candidate it yields. An index is used only where its answer provably contains every match:
//! an equality on id / userName / externalId / group displayName is a point lookup, `sw` on
//! userName a range of the lower-cased userName index, a comparison on `meta.lastModified` a
//! range of the time index. `and` takes its most selective indexed branch, `or` the union of
//! its branches when every branch is indexed. Anything else (`not`, `co`, value paths, other
//! attributes) scans, with the same evaluator, so both paths give the same answer.

use std::collections::BTreeSet;
use std::ops::Bound;

use crate::scim::filter::{CompareOp, Filter, Literal};
use crate::scim::path::AttrPath;
use crate::scim::ResourceKind;
use crate::store::{time_key, Kind, ReadTx, StoreError};

/// An index read that yields candidate ids.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Access {
    /// `attr eq "value"` on an indexed attribute.
    Point(Indexed, String),
    /// `userName sw "prefix"`: keys of the lower-cased index starting with `prefix`.
    UserNamePrefix(String),
    /// A `meta.lastModified` comparison: a range of time keys.
    Modified(Bound<String>, Bound<String>),
    /// `a or b`: every match of the `or` is a candidate of one branch.
    Union(Vec<Access>),
    /// `a and b`: every match is a candidate of each branch; read only the smallest.
    Narrowest(Vec<Access>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Indexed {
    Id,
    UserName,
    ExternalId,
    DisplayName,
}

/// How a filter is answered: from an index, or by reading every record.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Plan {
    Index(Access),
    Scan,
}

/// Plans `f` for resources of `kind`.
pub(super) fn plan(f: &Filter, kind: ResourceKind) -> Plan {
    match access(f, kind) {
        Some(a) => Plan::Index(a),
        None => Plan::Scan,
    }
}

fn access(f: &Filter, kind: ResourceKind) -> Option<Access> {
    match f {
        Filter::And(a, b) => {
            let mut branches = Vec::new();
            for side in [a, b] {
                match access(side, kind) {
                    Some(Access::Narrowest(inner)) => branches.extend(inner),
                    Some(x) => branches.push(x),
                    None => {}
                }
            }
            narrowest(branches)
        }
        Filter::Or(a, b) => {
            let (a, b) = (access(a, kind)?, access(b, kind)?);
            let mut branches = Vec::new();
            for x in [a, b] {
                match x {
                    Access::Union(inner) => branches.extend(inner),
                    x => branches.push(x),
                }
            }
            Some(Access::Union(branches))
        }
        Filter::Compare {
            attr,
            op,
            value: Literal::String(s),
        } => compare_access(attr, *op, s, kind),
        _ => None,
    }
}

/// Keeps the branches of an `and` worth reading: a point lookup beats any range, and two
/// ranges of the time index intersect into one.
fn narrowest(branches: Vec<Access>) -> Option<Access> {
    if let Some(p) = branches.iter().find(|b| matches!(b, Access::Point(..))) {
        return Some(p.clone());
    }
    let mut time: Option<(Bound<String>, Bound<String>)> = None;
    let mut others = Vec::new();
    for b in branches {
        match b {
            Access::Modified(lo, hi) => {
                time = Some(match time {
                    None => (lo, hi),
                    Some((l0, h0)) => (tighter(l0, lo, true), tighter(h0, hi, false)),
                });
            }
            other => others.push(other),
        }
    }
    if let Some((lo, hi)) = time {
        others.push(Access::Modified(lo, hi));
    }
    match others.len() {
        0 => None,
        1 => others.pop(),
        _ => Some(Access::Narrowest(others)),
    }
}

/// The tighter of two lower (or upper) bounds.
fn tighter(a: Bound<String>, b: Bound<String>, lower: bool) -> Bound<String> {
    use Bound::*;
    let key = |x: &Bound<String>| match x {
        Included(k) | Excluded(k) => Some(k.clone()),
        Unbounded => None,
    };
    match (key(&a), key(&b)) {
        (None, _) => b,
        (_, None) => a,
        (Some(ka), Some(kb)) => {
            if ka == kb {
                // Same key: the exclusive bound is the tighter one either way.
                if matches!(a, Excluded(_)) {
                    a
                } else {
                    b
                }
            } else if (ka > kb) == lower {
                a
            } else {
                b
            }
        }
    }
}

fn is_core(attr: &AttrPath, kind: ResourceKind) -> bool {
    attr.urn
        .as_deref()
        .is_none_or(|u| u.eq_ignore_ascii_case(kind.core_urn()))
}

fn compare_access(
    attr: &AttrPath,
    op: CompareOp,
    value: &str,
    kind: ResourceKind,
) -> Option<Access> {
    if !is_core(attr, kind) {
        return None;
    }
    let name = attr.name.as_str();
    match &attr.sub {
        Some(sub)
            if name.eq_ignore_ascii_case("meta") && sub.eq_ignore_ascii_case("lastModified") =>
        {
            // The evaluator compares parsed instants; time keys order the same instants.
            let k = time_key(value)?;
            use Bound::*;
            let (lo, hi) = match op {
                CompareOp::Eq => (Included(k.clone()), Included(k)),
                CompareOp::Gt => (Excluded(k), Unbounded),
                CompareOp::Ge => (Included(k), Unbounded),
                CompareOp::Lt => (Unbounded, Excluded(k)),
                CompareOp::Le => (Unbounded, Included(k)),
                _ => return None,
            };
            Some(Access::Modified(lo, hi))
        }
        Some(_) => None,
        None => {
            let user = kind == ResourceKind::User;
            match op {
                CompareOp::Eq => {
                    let which = if name.eq_ignore_ascii_case("id") {
                        Indexed::Id
                    } else if name.eq_ignore_ascii_case("externalId") {
                        Indexed::ExternalId
                    } else if user && name.eq_ignore_ascii_case("userName") {
                        Indexed::UserName
                    } else if !user && name.eq_ignore_ascii_case("displayName") {
                        Indexed::DisplayName
                    } else {
                        return None;
                    };
                    Some(Access::Point(which, value.to_string()))
                }
                // userName is caseExact false: the evaluator lower-cases both sides, as the
                // index keys are.
                CompareOp::Sw if user && name.eq_ignore_ascii_case("userName") => {
                    Some(Access::UserNamePrefix(value.to_lowercase()))
                }
                _ => None,
            }
        }
    }
}

/// Reads the candidate ids of `access`, sorted and without duplicates; `None` when there are
/// more than `limit` (the caller then scans).
pub(super) fn candidates(
    tx: &ReadTx,
    kind: Kind,
    access: &Access,
    limit: usize,
) -> Result<Option<BTreeSet<String>>, StoreError> {
    read(tx, kind, access, limit)
}

/// As [`candidates`], but gives up (`None`) once more than `limit` ids are found, so an `and`
/// can stop reading a wide branch as soon as it is wider than a narrower one already read.
fn read(
    tx: &ReadTx,
    kind: Kind,
    access: &Access,
    limit: usize,
) -> Result<Option<BTreeSet<String>>, StoreError> {
    let mut out = BTreeSet::new();
    // Adds an id; false once the set is past the limit, which stops the read.
    let push = |id: &str, out: &mut BTreeSet<String>| -> bool {
        out.insert(id.to_owned());
        out.len() <= limit
    };
    match access {
        Access::Point(which, value) => {
            let ids: Vec<String> = match which {
                Indexed::Id => {
                    if tx.exists(kind, value)? {
                        vec![value.clone()]
                    } else {
                        Vec::new()
                    }
                }
                Indexed::UserName => tx.user_id_by_name(value)?.into_iter().collect(),
                Indexed::ExternalId => tx.ids_by_external_id(kind, value)?,
                Indexed::DisplayName => tx.group_ids_by_display_name(value)?,
            };
            for id in ids {
                if !push(&id, &mut out) {
                    break;
                }
            }
        }
        Access::UserNamePrefix(prefix) => {
            tx.user_names_in(
                (Bound::Included(prefix.as_str()), Bound::Unbounded),
                false,
                &mut |key, id| Ok(key.starts_with(prefix.as_str()) && push(id, &mut out)),
            )?;
        }
        Access::Modified(lo, hi) => {
            if !empty_range(lo, hi) {
                let range = (as_ref(lo), as_ref(hi));
                tx.modified_in(kind, range, &mut |_, id| Ok(push(id, &mut out)))?;
            }
        }
        Access::Union(branches) => {
            for b in branches {
                let Some(ids) = read(tx, kind, b, limit)? else {
                    return Ok(None);
                };
                out.extend(ids);
                if out.len() > limit {
                    return Ok(None);
                }
            }
        }
        Access::Narrowest(branches) => {
            let mut best: Option<BTreeSet<String>> = None;
            for b in branches {
                let cap = best.as_ref().map_or(limit, |s| s.len().min(limit));
                if let Some(ids) = read(tx, kind, b, cap)? {
                    best = Some(ids);
                }
            }
            return Ok(best);
        }
    }
    Ok((out.len() <= limit).then_some(out))
}

fn as_ref(b: &Bound<String>) -> Bound<&str> {
    match b {
        Bound::Included(s) => Bound::Included(s.as_str()),
        Bound::Excluded(s) => Bound::Excluded(s.as_str()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// redb refuses a range whose start lies after its end; such a range holds nothing anyway.
fn empty_range(lo: &Bound<String>, hi: &Bound<String>) -> bool {
    use Bound::*;
    match (lo, hi) {
        (Included(a), Included(b)) => a > b,
        (Included(a), Excluded(b)) | (Excluded(a), Included(b)) | (Excluded(a), Excluded(b)) => {
            a >= b
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter;

    fn plan_of(f: &str, kind: ResourceKind) -> Plan {
        plan(&filter::parse(f).unwrap(), kind)
    }

    #[test]
    fn equalities_on_indexed_attributes_are_point_lookups() {
        use ResourceKind::*;
        let point = |i, v: &str| Plan::Index(Access::Point(i, v.into()));
        assert_eq!(
            plan_of(r#"userName eq "A""#, User),
            point(Indexed::UserName, "A")
        );
        assert_eq!(
            plan_of(r#"externalId eq "e" and userName eq "u""#, User),
            point(Indexed::ExternalId, "e")
        );
        assert_eq!(
            plan_of(r#"displayName eq "Sales""#, Group),
            point(Indexed::DisplayName, "Sales")
        );
        assert_eq!(plan_of(r#"displayName eq "Sales""#, User), Plan::Scan);
        assert_eq!(
            plan_of(
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x""#,
                User
            ),
            point(Indexed::UserName, "x")
        );
        assert_eq!(
            plan_of(r#"id eq "x" and members eq "u""#, Group),
            point(Indexed::Id, "x")
        );
    }

    #[test]
    fn ranges_unions_and_scans() {
        use ResourceKind::*;
        assert_eq!(
            plan_of(r#"userName sw "Ab""#, User),
            Plan::Index(Access::UserNamePrefix("ab".into()))
        );
        let k = time_key("2026-01-01T00:00:00Z").unwrap();
        let k2 = time_key("2026-02-01T00:00:00+01:00").unwrap();
        assert_eq!(
            plan_of(r#"meta.lastModified gt "2026-01-01T00:00:00Z""#, Group),
            Plan::Index(Access::Modified(
                Bound::Excluded(k.clone()),
                Bound::Unbounded
            ))
        );
        assert_eq!(
            plan_of(
                r#"meta.lastModified ge "2026-01-01T00:00:00Z" and active eq true and meta.lastModified lt "2026-02-01T00:00:00+01:00""#,
                User
            ),
            Plan::Index(Access::Modified(Bound::Included(k), Bound::Excluded(k2)))
        );
        assert_eq!(
            plan_of(r#"userName eq "a" or externalId eq "b""#, User),
            Plan::Index(Access::Union(vec![
                Access::Point(Indexed::UserName, "a".into()),
                Access::Point(Indexed::ExternalId, "b".into()),
            ]))
        );
        assert!(matches!(
            plan_of(r#"userName sw "a" and meta.lastModified gt "2026-01-01T00:00:00Z""#, User),
            Plan::Index(Access::Narrowest(v)) if v.len() == 2
        ));
        for scan in [
            r#"userName eq "a" or active eq true"#,
            r#"not (userName eq "a")"#,
            r#"userName co "a""#,
            r#"userName ne "a""#,
            r#"emails[value eq "a"]"#,
            r#"name.familyName eq "a""#,
            r#"meta.lastModified sw "2026""#,
            r#"userName eq 12"#,
        ] {
            assert_eq!(plan_of(scan, User), Plan::Scan, "{scan}");
        }
    }

    #[test]
    fn tighter_bounds() {
        use Bound::*;
        let s = |x: &str| x.to_string();
        assert_eq!(
            tighter(Included(s("a")), Excluded(s("a")), true),
            Excluded(s("a"))
        );
        assert_eq!(
            tighter(Included(s("a")), Included(s("b")), true),
            Included(s("b"))
        );
        assert_eq!(
            tighter(Included(s("a")), Included(s("b")), false),
            Included(s("a"))
        );
        assert_eq!(
            tighter(Unbounded, Included(s("b")), false),
            Included(s("b"))
        );
        assert!(empty_range(&Excluded(s("a")), &Excluded(s("a"))));
        assert!(!empty_range(&Included(s("a")), &Included(s("a"))));
    }
}
