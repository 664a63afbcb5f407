//! Reads: get by id, and filtered, sorted, paged listing (the planner is in `plan.rs`).

use serde_json::Value;

use super::page::Query;
use super::plan::{plan, Access, Indexed, Plan};
use super::render::Derive;
use super::view::stored;
use super::{from_store, store_kind, Directory};
use crate::scim::cursor::{Binding, Cursor};
use crate::scim::discovery::{cursor_list_response, list_response};
use crate::scim::filter::{self, Filter};
use crate::scim::projection::Projection;
use crate::scim::resource::meta_str;
use crate::scim::sort::SortSpec;
use crate::scim::{ResourceKind, ScimError};

pub use crate::scim::search::ListParams;

impl Directory {
    /// GET by id: the resource and its `meta.version` (for `ETag`, whatever the projection).
    pub fn get(
        &self,
        kind: ResourceKind,
        id: &str,
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<(Value, Option<String>), ScimError> {
        let projection = Projection::parse(&self.reg, kind, attributes, excluded)?;
        let tx = self.store.read().map_err(from_store)?;
        let doc = stored(&tx, kind, id)?;
        let version = meta_str(&doc, "version").map(str::to_string);
        let derive = derive_for(&projection);
        let full = self.render(&tx, kind, doc, derive)?;
        Ok((projection.apply(&self.reg, kind, full), version))
    }

    /// GET on the collection (or `.search`): a ListResponse, paged by index or by cursor.
    pub fn list(&self, kind: ResourceKind, params: &ListParams) -> Result<Value, ScimError> {
        let listing = self.prepare_list(kind, params)?;
        self.run_list(&listing)
    }

    /// [`Directory::list`]'s checks and parsing, done once: the caller can then decide where
    /// to run it ([`Listing::is_point`]) without parsing the filter a second time.
    pub fn prepare_list(
        &self,
        kind: ResourceKind,
        params: &ListParams,
    ) -> Result<Listing, ScimError> {
        let projection = Projection::parse(
            &self.reg,
            kind,
            params.attributes.as_deref(),
            params.excluded_attributes.as_deref(),
        )?;
        let filter_text = params
            .filter
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let filter = match filter_text {
            None => None,
            Some(text) => Some(filter::parse_checked_within(
                text,
                &self.reg,
                kind,
                self.limits.filter,
            )?),
        };
        let sort = SortSpec::parse(
            &self.reg,
            kind,
            params.sort_by.as_deref(),
            params.sort_order.as_deref(),
        )?;
        if let Some(s) = &sort {
            let derived = match kind {
                ResourceKind::User => "groups",
                ResourceKind::Group => "members",
            };
            let attr = s.attribute();
            if attr
                .split(['.', ':'])
                .next()
                .is_some_and(|n| n.eq_ignore_ascii_case(derived))
            {
                // Derived from the membership index, not stored: no sort key to read.
                return Err(ScimError::invalid_value(format!(
                    "sortBy \"{attr}\" is not supported: {derived} is computed from group \
                     membership; sort by a stored attribute"
                )));
            }
        }
        let count = params
            .count
            .unwrap_or(self.max_page as i64)
            .clamp(0, self.max_page as i64) as u64;
        let plan = filter.as_ref().map_or(Plan::Scan, |f| plan(f, kind));
        Ok(Listing {
            kind,
            params: params.clone(),
            projection,
            filter,
            plan,
            sort,
            count,
        })
    }

    /// Runs a list prepared by [`Directory::prepare_list`].
    pub fn run_list(&self, listing: &Listing) -> Result<Value, ScimError> {
        let Listing {
            kind,
            params,
            projection,
            filter,
            plan,
            sort,
            count,
        } = listing;
        let (kind, count) = (*kind, *count);
        let filter_text = params
            .filter
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let q = Query {
            kind,
            sk: store_kind(kind),
            filter: filter.as_ref(),
            derive: filter
                .as_ref()
                .filter(|f| needs_derived(f, kind))
                .map(|f| Derive {
                    member_display: reads_member_display(f),
                    ..Derive::ALL
                }),
            sort: sort.as_ref(),
        };
        let derive = derive_for(projection);
        let tx = self.store.read().map_err(from_store)?;
        let render = |docs: Vec<Value>| -> Result<Vec<Value>, ScimError> {
            docs.into_iter()
                .map(|doc| {
                    let full = self.render(&tx, kind, doc, derive)?;
                    Ok(projection.apply(&self.reg, kind, full))
                })
                .collect()
        };
        match params.cursor.as_deref() {
            None => {
                let (start, _) = listing.index_window();
                let page = self.index_page(&tx, &q, plan, start, count)?;
                let total = page.total.unwrap_or_default();
                Ok(list_response(render(page.docs)?, total, start))
            }
            Some(token) => {
                if params.start_index.is_some() {
                    return Err(ScimError::invalid_value(
                        "startIndex and cursor both given: page either by index (startIndex) or \
                         by cursor (cursor), not both",
                    ));
                }
                let binding = Binding::of(
                    kind,
                    filter_text,
                    params.sort_by.as_deref(),
                    params.sort_order.as_deref(),
                );
                let cursor = match token.trim() {
                    "" => None,
                    t => Some(Cursor::decode(t, &binding)?),
                };
                let page = self.cursor_page(&tx, &q, plan, cursor.as_ref(), &binding, count)?;
                Ok(cursor_list_response(
                    render(page.docs)?,
                    page.total,
                    page.next,
                    page.previous,
                ))
            }
        }
    }

    /// `POST /.search` at the root (RFC 7644 §3.4.3): Users, then Groups, as one paged list.
    /// The filter must make sense for both resource types.
    pub fn search_all(&self, params: &ListParams) -> Result<Value, ScimError> {
        if params.cursor.is_some() || params.sort_by.is_some() {
            // One order across two resource types has no natural key; say so rather than
            // return pages whose order or cursors would not hold.
            return Err(ScimError::invalid_value(
                "sortBy and cursor are supported on /Users/.search and /Groups/.search, not on \
                 the root /.search, which pages Users then Groups by startIndex",
            ));
        }
        let start = params.start_index.unwrap_or(1).max(1);
        let count = params
            .count
            .unwrap_or(self.max_page as i64)
            .clamp(0, self.max_page as i64);
        // A filter naming attributes only one type has (userName) selects nothing of the other;
        // it is an error only when no type accepts it.
        let totals = |kind| -> Result<i64, ScimError> {
            let probe = ListParams {
                count: Some(0),
                start_index: None,
                ..params.clone()
            };
            Ok(self
                .list(kind, &probe)?
                .get("totalResults")
                .and_then(Value::as_i64)
                .unwrap_or(0))
        };
        let (users_total, groups_total) =
            match (totals(ResourceKind::User), totals(ResourceKind::Group)) {
                (Err(e), Err(_)) => return Err(e),
                (Err(e), _) | (_, Err(e))
                    if e.scim_type != Some(crate::scim::ScimType::InvalidFilter) =>
                {
                    return Err(e)
                }
                (u, g) => (u.unwrap_or(0), g.unwrap_or(0)),
            };
        let mut resources: Vec<Value> = Vec::new();
        if start <= users_total && count > 0 && users_total > 0 {
            let page = ListParams {
                start_index: Some(start),
                count: Some(count),
                ..params.clone()
            };
            if let Some(Value::Array(r)) = self
                .list(ResourceKind::User, &page)?
                .get_mut("Resources")
                .map(Value::take)
            {
                resources.extend(r);
            }
        }
        let remaining = count - resources.len() as i64;
        if remaining > 0 && groups_total > 0 {
            let group_start = (start - users_total).max(1);
            let page = ListParams {
                start_index: Some(group_start),
                count: Some(remaining),
                ..params.clone()
            };
            if let Some(Value::Array(r)) = self
                .list(ResourceKind::Group, &page)?
                .get_mut("Resources")
                .map(Value::take)
            {
                resources.extend(r);
            }
        }
        Ok(list_response(
            resources,
            (users_total + groups_total) as u64,
            start as u64,
        ))
    }
}

fn derive_for(p: &Projection) -> Derive {
    Derive {
        member_display: p.requests("members", "display"),
        members: !p.excludes("members"),
        groups: !p.excludes("groups"),
    }
}

/// Whether the filter reads `members.display`, which is rendered only on request (it costs a
/// read per member).
fn reads_member_display(f: &Filter) -> bool {
    let display = |p: &crate::scim::path::AttrPath| {
        p.sub
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("display"))
            || (p.sub.is_none() && p.name.eq_ignore_ascii_case("display"))
    };
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => reads_member_display(a) || reads_member_display(b),
        Filter::Not(a) => reads_member_display(a),
        Filter::Present(p) | Filter::Compare { attr: p, .. } => {
            p.name.eq_ignore_ascii_case("members") && display(p)
        }
        Filter::ValuePath { attr, filter } => {
            attr.name.eq_ignore_ascii_case("members") && reads_display_inside(filter, &display)
        }
    }
}

fn reads_display_inside(
    f: &Filter,
    display: &dyn Fn(&crate::scim::path::AttrPath) -> bool,
) -> bool {
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => {
            reads_display_inside(a, display) || reads_display_inside(b, display)
        }
        Filter::Not(a) => reads_display_inside(a, display),
        Filter::Present(p)
        | Filter::Compare { attr: p, .. }
        | Filter::ValuePath { attr: p, .. } => display(p),
    }
}

/// Whether the filter refers to a derived attribute (`User.groups`, `Group.members`).
fn needs_derived(f: &Filter, kind: ResourceKind) -> bool {
    let derived = match kind {
        ResourceKind::User => "groups",
        ResourceKind::Group => "members",
    };
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => needs_derived(a, kind) || needs_derived(b, kind),
        Filter::Not(a) => needs_derived(a, kind),
        Filter::Present(p)
        | Filter::Compare { attr: p, .. }
        | Filter::ValuePath { attr: p, .. } => p.name.eq_ignore_ascii_case(derived),
    }
}

/// A list request, checked and parsed by [`Directory::prepare_list`].
pub struct Listing {
    kind: ResourceKind,
    params: ListParams,
    projection: Projection,
    filter: Option<Filter>,
    /// How the filter is read, planned once for every use of the listing.
    plan: Plan,
    sort: Option<SortSpec>,
    count: u64,
}

impl Listing {
    /// The userName of a lookup that the stored JSON can answer as it is (`spliced.rs`):
    /// `userName eq "…"` and nothing else, no projection, index paging. The index holds
    /// lower-cased userNames and the evaluator compares lower-cased, so the index's hit is
    /// exactly the filter's match and need not be evaluated again.
    pub(super) fn spliceable_user_name(&self) -> Option<&str> {
        if self.kind != ResourceKind::User
            || !self.projection.is_default()
            || self.params.cursor.is_some()
        {
            return None;
        }
        let Some(Filter::Compare {
            op: filter::CompareOp::Eq,
            value: filter::Literal::String(name),
            ..
        }) = &self.filter
        else {
            return None;
        };
        matches!(self.plan, Plan::Index(Access::Point(Indexed::UserName, _)))
            .then_some(name.as_str())
    }

    /// The `startIndex` and `count` of an index page.
    pub(super) fn index_window(&self) -> (u64, u64) {
        (
            self.params.start_index.unwrap_or(1).max(1) as u64,
            self.count,
        )
    }

    /// Whether it answers from an index point lookup on Users (Entra's `userName eq`): a
    /// handful of small records, quick enough to read on an async worker instead of paying a
    /// hand-off to the blocking pool. Groups are never: a group renders its member list. Only
    /// the unique keys: `externalId eq` may match any number of users.
    pub fn is_point(&self) -> bool {
        self.kind == ResourceKind::User
            && matches!(
                self.plan,
                Plan::Index(Access::Point(Indexed::UserName | Indexed::Id, _))
            )
    }
}
