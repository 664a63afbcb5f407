//! Reads: get by id, and filtered, sorted, paged listing (the planner is in `plan.rs`).

use serde_json::Value;

use super::plan::{candidates, plan, Plan};
use super::render::Derive;
use super::view::stored;
use super::view::View;
use super::{from_store, store_kind, Directory};
use crate::scim::discovery::list_response;
use crate::scim::filter::{self, Filter};
use crate::scim::projection::Projection;
use crate::scim::resource::meta_str;
use crate::scim::{ResourceKind, ScimError};
use crate::store::StoreError;

/// Query parameters of a list request (RFC 7644 §3.4.2).
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub filter: Option<String>,
    /// 1-based; values below 1 are read as 1 (RFC 7644 §3.4.2.4).
    pub start_index: Option<i64>,
    /// Negative is read as 0; above the maximum is clamped to it.
    pub count: Option<i64>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
    /// `sortBy` (RFC 7644 §3.4.2.3): an attribute path.
    pub sort_by: Option<String>,
    /// `sortOrder`: `ascending` (default) or `descending`.
    pub sort_order: Option<String>,
    /// `cursor` (RFC 9865): `Some("")` asks for the first page of a cursor walk.
    pub cursor: Option<String>,
}

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

    /// GET on the collection: a ListResponse.
    pub fn list(&self, kind: ResourceKind, params: &ListParams) -> Result<Value, ScimError> {
        let projection = Projection::parse(
            &self.reg,
            kind,
            params.attributes.as_deref(),
            params.excluded_attributes.as_deref(),
        )?;
        let filter = match params.filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                let f = filter::parse(text)?;
                f.check(&self.reg, kind)?;
                Some(f)
            }
        };
        let start = params.start_index.unwrap_or(1).max(1) as u64;
        let count = params
            .count
            .unwrap_or(self.max_page as i64)
            .clamp(0, self.max_page as i64) as u64;
        let derive = derive_for(&projection);
        let needs = filter
            .as_ref()
            .map(|f| needs_derived(f, kind))
            .unwrap_or(false);

        let tx = self.store.read().map_err(from_store)?;
        let sk = store_kind(kind);
        let mut page: Vec<Value> = Vec::new();
        let mut total: u64 = 0;
        // Each match is numbered; only those inside [start, start + count) are rendered.
        let mut take = |doc: Value, total: &mut u64| -> Result<(), ScimError> {
            *total += 1;
            if *total >= start && *total < start + count {
                let full = self.render(&tx, kind, doc, derive)?;
                page.push(projection.apply(&self.reg, kind, full));
            }
            Ok(())
        };
        match &filter {
            None => {
                // Without a filter only the page is read; the total is the table's length.
                let skip = start - 1;
                let mut seen: u64 = 0;
                let mut docs = Vec::new();
                tx.scan(sk, None, &mut |_, doc| {
                    seen += 1;
                    if seen > skip {
                        if docs.len() as u64 >= count {
                            return Ok(false);
                        }
                        docs.push(doc);
                    }
                    Ok(true)
                })
                .map_err(from_store)?;
                total = tx.count(sk).map_err(from_store)?;
                for doc in docs {
                    let full = self.render(&tx, kind, doc, derive)?;
                    page.push(projection.apply(&self.reg, kind, full));
                }
            }
            Some(f) => match plan(f, kind) {
                Plan::Index(access) => {
                    for id in candidates(&tx, sk, &access).map_err(from_store)? {
                        let Some(doc) = tx.get(sk, &id).map_err(from_store)? else {
                            continue;
                        };
                        if self.eval(&tx, kind, f, &doc, needs)? {
                            take(doc, &mut total)?;
                        }
                    }
                }
                Plan::Scan => {
                    let mut failure: Option<ScimError> = None;
                    tx.scan(sk, None, &mut |_, doc| {
                        match self.eval(&tx, kind, f, &doc, needs) {
                            Ok(true) => {
                                if let Err(e) = take(doc, &mut total) {
                                    failure = Some(e);
                                    return Ok(false);
                                }
                            }
                            Ok(false) => {}
                            Err(e) => {
                                failure = Some(e);
                                return Ok(false);
                            }
                        }
                        Ok::<bool, StoreError>(true)
                    })
                    .map_err(from_store)?;
                    if let Some(e) = failure {
                        return Err(e);
                    }
                }
            },
        }
        Ok(list_response(page, total, start))
    }

    /// `POST /.search` at the root (RFC 7644 §3.4.3): Users, then Groups, as one paged list.
    /// The filter must make sense for both resource types.
    pub fn search_all(&self, params: &ListParams) -> Result<Value, ScimError> {
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

    /// Evaluates `f` on a stored document, adding derived attributes first when `f` needs them.
    fn eval(
        &self,
        tx: &dyn View,
        kind: ResourceKind,
        f: &Filter,
        doc: &Value,
        needs_derived: bool,
    ) -> Result<bool, ScimError> {
        if !needs_derived {
            return Ok(f.matches(doc, &self.reg, kind));
        }
        let full = self.render(tx, kind, doc.clone(), Derive::ALL)?;
        Ok(f.matches(&full, &self.reg, kind))
    }
}

fn derive_for(p: &Projection) -> Derive {
    Derive {
        member_display: p.requests("members", "display"),
        members: !p.excludes("members"),
        groups: !p.excludes("groups"),
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
