//! Ordered walks over the matches of a query, and the two ways of paging them: by index
//! (`startIndex`, RFC 7644 §3.4.2.4) and by cursor (RFC 9865).
//!
//! The order is fixed by the query alone: by `sortBy` then id when sorting, by id otherwise
//! (ids are UUIDv7, so that is creation order). A position in that order — a sort key and an
//! id — is all a cursor holds, so a walk resumes exactly after the last resource it returned,
//! whatever was created or deleted in between, and an unfiltered walk reads only its page.

use std::cmp::Ordering;
use std::ops::Bound;

use serde_json::Value;

use super::plan::{candidates, Plan};
use super::render::Derive;
use super::{from_store, Directory};
use crate::scim::cursor::{Binding, Cursor, Direction, Position};
use crate::scim::filter::Filter;
use crate::scim::sort::{SortKey, SortOrder, SortSpec};
use crate::scim::{ResourceKind, ScimError};
use crate::store::{Kind, ReadTx, StoreError};

/// Above this many index candidates a cursor page does not count its matches for
/// `totalResults` (RFC 9865 §2 lets it be omitted), since counting reads every candidate.
const COUNT_CANDIDATES_UP_TO: usize = 10_000;
/// An index plan whose candidates outnumber this is answered by a scan instead.
const MAX_CANDIDATES: usize = 50_000;

/// One list request, resolved.
pub(super) struct Query<'a> {
    pub kind: ResourceKind,
    pub sk: Kind,
    pub filter: Option<&'a Filter>,
    /// How to render a document before filtering it, when the filter reads derived
    /// attributes (groups, members); `None` filters the stored document as it is.
    pub derive: Option<Derive>,
    pub sort: Option<&'a SortSpec>,
}

/// Where the matches come from, in the query's order.
enum Source {
    /// Every record, in id order (the records table's order).
    Scan,
    /// Index candidates, sorted by id.
    Ids(Vec<String>),
    /// Every user in userName order, from the lower-cased userName index.
    UserNames(SortOrder),
    /// The matches, already filtered and sorted by the sort spec.
    Sorted(Vec<(SortKey, String)>),
}

/// One resource met on a walk; the document is read only when the walk needs it.
struct Item {
    pos: Position,
    doc: Option<Value>,
}

/// What a page walk produced.
pub(super) struct Page {
    pub docs: Vec<Value>,
    pub total: Option<u64>,
    pub next: Option<String>,
    pub previous: Option<String>,
}

impl Directory {
    /// Chooses the source for `q` under `plan`.
    fn source(&self, tx: &ReadTx, q: &Query<'_>, plan: &Plan) -> Result<Source, ScimError> {
        // An index read wider than MAX_CANDIDATES (`sw "a"`, an old `lastModified gt`) would
        // hold every id and then read the records in random order; a scan reads them in order
        // and, on a cursor page, stops as soon as the page is full.
        let ids = match plan {
            Plan::Index(access) => candidates(tx, q.sk, access, MAX_CANDIDATES)
                .map_err(from_store)?
                .map(|set| set.into_iter().collect::<Vec<_>>()),
            Plan::Scan => None,
        };
        Ok(match (q.sort, ids) {
            (None, None) => Source::Scan,
            (None, Some(ids)) => Source::Ids(ids),
            // Walking the whole userName index costs only the page when there is no filter,
            // and no more than a scan when there is one.
            (Some(s), None) if s.is_user_name() && q.kind == ResourceKind::User => {
                Source::UserNames(s.order())
            }
            (Some(s), ids) => {
                let mut keyed = Vec::new();
                let mut keep = |doc: Value| -> Result<(), ScimError> {
                    if self.matches(tx, q, &doc)? {
                        let id = id_of(&doc);
                        keyed.push((s.key(&doc, &self.reg, q.kind), id));
                    }
                    Ok(())
                };
                match ids {
                    Some(ids) => {
                        for id in ids {
                            if let Some(doc) = tx.get(q.sk, &id).map_err(from_store)? {
                                keep(doc)?;
                            }
                        }
                    }
                    None => {
                        let mut failure = None;
                        tx.scan(q.sk, None, &mut |_, doc| match keep(doc) {
                            Ok(()) => Ok(true),
                            Err(e) => {
                                failure = Some(e);
                                Ok(false)
                            }
                        })
                        .map_err(from_store)?;
                        if let Some(e) = failure {
                            return Err(e);
                        }
                    }
                }
                keyed.sort_by(|a, b| s.compare(a, b));
                Source::Sorted(keyed)
            }
        })
    }

    /// Whether `doc` matches the query's filter (already true for `Sorted` sources).
    fn matches(&self, tx: &ReadTx, q: &Query<'_>, doc: &Value) -> Result<bool, ScimError> {
        let Some(f) = q.filter else { return Ok(true) };
        let Some(derive) = q.derive else {
            return Ok(f.matches(doc, &self.reg, q.kind));
        };
        let full = self.render(tx, q.kind, doc.clone(), derive)?;
        Ok(f.matches(&full, &self.reg, q.kind))
    }

    /// Visits the matches strictly after `from` in the query's order (`backward`: strictly
    /// before it, in reverse order); `f` returns `Ok(false)` to stop.
    fn walk(
        &self,
        tx: &ReadTx,
        q: &Query<'_>,
        source: &Source,
        from: Option<&Position>,
        backward: bool,
        f: &mut dyn FnMut(Item) -> Result<bool, ScimError>,
    ) -> Result<(), ScimError> {
        // Sorted sources hold only matches; the others are filtered as they are read.
        let filtered = !matches!(source, Source::Sorted(_)) && q.filter.is_some();
        let mut failure: Option<ScimError> = None;
        let mut visit = |pos: Position, doc: Option<Value>| -> Result<bool, StoreError> {
            let step = || -> Result<bool, ScimError> {
                let mut doc = doc;
                if filtered {
                    if doc.is_none() {
                        doc = tx.get(q.sk, &pos.id).map_err(from_store)?;
                    }
                    match &doc {
                        Some(d) if self.matches(tx, q, d)? => {}
                        _ => return Ok(true),
                    }
                }
                f(Item { pos, doc })
            };
            match step() {
                Ok(go_on) => Ok(go_on),
                Err(e) => {
                    failure = Some(e);
                    Ok(false)
                }
            }
        };
        let walked = match source {
            Source::Scan => {
                let after = from.map(|p| p.id.as_str());
                let range = match (after, backward) {
                    (None, _) => (Bound::Unbounded, Bound::Unbounded),
                    (Some(a), false) => (Bound::Excluded(a), Bound::Unbounded),
                    (Some(a), true) => (Bound::Unbounded, Bound::Excluded(a)),
                };
                tx.scan_range(q.sk, range, backward, &mut |id, doc| {
                    visit(
                        Position {
                            key: None,
                            id: id.to_owned(),
                        },
                        Some(doc),
                    )
                })
            }
            Source::Ids(ids) => {
                let slice = slice_around(ids, from.map(|p| &p.id), backward, |a, b| a.cmp(b));
                walk_ids(slice, backward, &mut |id| {
                    visit(
                        Position {
                            key: None,
                            id: id.clone(),
                        },
                        None,
                    )
                })
            }
            Source::Sorted(keyed) => {
                let spec = q.sort;
                let from_pair =
                    from.map(|p| (p.key.clone().unwrap_or(SortKey::Missing), p.id.clone()));
                let cmp = |a: &(SortKey, String), b: &(SortKey, String)| match spec {
                    Some(s) => s.compare(a, b),
                    None => a.1.cmp(&b.1),
                };
                let slice = slice_around(keyed, from_pair.as_ref(), backward, cmp);
                walk_ids(slice, backward, &mut |(key, id)| {
                    visit(
                        Position {
                            key: Some(key.clone()),
                            id: id.clone(),
                        },
                        None,
                    )
                })
            }
            Source::UserNames(order) => {
                let key = match from.map(|p| &p.key) {
                    None => None,
                    Some(Some(SortKey::Str(k))) => Some(k.as_str()),
                    Some(_) => {
                        return Err(ScimError::bad_request(
                            crate::scim::ScimType::InvalidCursor,
                            "the cursor does not belong to a list sorted by userName",
                        ))
                    }
                };
                // Ascending walks the index forward; descending walks it in reverse.
                let reverse = (*order == SortOrder::Descending) != backward;
                let range = match key {
                    None => (Bound::Unbounded, Bound::Unbounded),
                    Some(k) if reverse => (Bound::Unbounded, Bound::Excluded(k)),
                    Some(k) => (Bound::Excluded(k), Bound::Unbounded),
                };
                tx.user_names_in(range, reverse, &mut |k, id| {
                    visit(
                        Position {
                            key: Some(SortKey::Str(k.to_owned())),
                            id: id.to_owned(),
                        },
                        None,
                    )
                })
            }
        };
        walked.map_err(from_store)?;
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn load(&self, tx: &ReadTx, q: &Query<'_>, item: Item) -> Result<Option<Value>, ScimError> {
        match item.doc {
            Some(d) => Ok(Some(d)),
            None => tx.get(q.sk, &item.pos.id).map_err(from_store),
        }
    }

    /// Index paging: the matches numbered `start ..< start + count` and the number of all.
    pub(super) fn index_page(
        &self,
        tx: &ReadTx,
        q: &Query<'_>,
        plan: &Plan,
        start: u64,
        count: u64,
    ) -> Result<Page, ScimError> {
        let source = self.source(tx, q, plan)?;
        // Without a filter the total is known without reading, so the walk ends with the page.
        let known_total = match (&source, q.filter) {
            (Source::Scan | Source::UserNames(_), None) => {
                Some(tx.count(q.sk).map_err(from_store)?)
            }
            (Source::Sorted(k), _) => Some(k.len() as u64),
            _ => None,
        };
        let mut docs = Vec::new();
        let mut seen: u64 = 0;
        if let Some(total) = known_total.filter(|t| count == 0 || start > *t) {
            // Nothing to return: do not walk to a page that cannot exist.
            return Ok(Page {
                docs,
                total: Some(total),
                next: None,
                previous: None,
            });
        }
        // Unfiltered, the records before the page need not be read at all: their ids are
        // counted off (startIndex=5001 passes 5,000 of them) and the walk starts after the
        // last one, where only the page is decoded.
        let mut from: Option<Position> = None;
        if matches!(source, Source::Scan) && q.filter.is_none() && start > 1 {
            tx.ids_in(
                q.sk,
                (Bound::Unbounded, Bound::Unbounded),
                false,
                &mut |id| {
                    seen += 1;
                    if seen == start - 1 {
                        from = Some(Position {
                            key: None,
                            id: id.to_owned(),
                        });
                        return Ok(false);
                    }
                    Ok(true)
                },
            )
            .map_err(from_store)?;
            if from.is_none() {
                // Fewer records than the count said: none for this page.
                return Ok(Page {
                    docs,
                    total: Some(seen),
                    next: None,
                    previous: None,
                });
            }
        }
        self.walk(tx, q, &source, from.as_ref(), false, &mut |item| {
            seen += 1;
            if seen >= start && seen < start.saturating_add(count) {
                if let Some(d) = self.load(tx, q, item)? {
                    docs.push(d);
                }
            }
            Ok(known_total.is_none() || seen < start.saturating_add(count).saturating_sub(1))
        })?;
        Ok(Page {
            docs,
            total: Some(known_total.unwrap_or(seen)),
            next: None,
            previous: None,
        })
    }

    /// Cursor paging: `count` matches after (or before) the cursor's position.
    pub(super) fn cursor_page(
        &self,
        tx: &ReadTx,
        q: &Query<'_>,
        plan: &Plan,
        cursor: Option<&Cursor>,
        binding: &Binding,
        count: u64,
    ) -> Result<Page, ScimError> {
        let source = self.source(tx, q, plan)?;
        let mut from = cursor.map(|c| &c.position);
        let mut backward = cursor.is_some_and(|c| c.direction == Direction::Before);
        let want = count.saturating_add(1);
        let mut items: Vec<Item> = Vec::new();
        if count > 0 {
            self.walk(tx, q, &source, from, backward, &mut |item| {
                items.push(item);
                Ok((items.len() as u64) < want)
            })?;
            if backward && items.is_empty() {
                // Nothing before the cursor any more (deleted meanwhile): the page before the
                // first page is the first page.
                (from, backward) = (None, false);
                self.walk(tx, q, &source, None, false, &mut |item| {
                    items.push(item);
                    Ok((items.len() as u64) < want)
                })?;
            }
        }
        let more = items.len() as u64 > count;
        items.truncate(count as usize);
        if backward {
            items.reverse();
        }
        let first = items.first().map(|i| i.pos.clone());
        let last = items.last().map(|i| i.pos.clone());
        // Is there a match beyond `pos` in the given direction? One step of a walk answers it.
        let beyond = |pos: Option<&Position>, back: bool| -> Result<bool, ScimError> {
            let mut found = false;
            self.walk(tx, q, &source, pos, back, &mut |_| {
                found = true;
                Ok(false)
            })?;
            Ok(found)
        };
        let (next, previous) = if backward {
            let next = match &last {
                Some(l) => beyond(Some(l), false)?,
                None => beyond(from, false)?,
            };
            (
                next.then(|| last.clone().or_else(|| from.cloned())),
                more.then(|| first.clone()),
            )
        } else {
            let previous = match (&first, from) {
                (_, None) => false,
                (Some(f), _) => beyond(Some(f), true)?,
                (None, Some(_)) => beyond(from, true)?,
            };
            (
                more.then(|| last.clone()),
                previous.then(|| first.clone().or_else(|| from.cloned())),
            )
        };
        let next = next.flatten().map(|p| Cursor::after(p, binding).encode());
        let previous = previous
            .flatten()
            .map(|p| Cursor::before(p, binding).encode());

        let total = match (&source, q.filter) {
            (Source::Scan | Source::UserNames(_), None) => {
                Some(tx.count(q.sk).map_err(from_store)?)
            }
            (Source::Sorted(k), _) => Some(k.len() as u64),
            (Source::Ids(ids), _) if ids.len() <= COUNT_CANDIDATES_UP_TO => {
                let mut n = 0;
                self.walk(tx, q, &source, None, false, &mut |_| {
                    n += 1;
                    Ok(true)
                })?;
                Some(n)
            }
            // Counting would read every record on every page, the O(n²) walk cursors avoid.
            _ => None,
        };
        let mut docs = Vec::with_capacity(items.len());
        for item in items {
            if let Some(d) = self.load(tx, q, item)? {
                docs.push(d);
            }
        }
        Ok(Page {
            docs,
            total,
            next,
            previous,
        })
    }
}

fn id_of(doc: &Value) -> String {
    doc.get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The part of the sorted `items` strictly after `from` (or strictly before it when
/// `backward`); all of them without a `from`.
fn slice_around<'a, T>(
    items: &'a [T],
    from: Option<&T>,
    backward: bool,
    cmp: impl Fn(&T, &T) -> Ordering,
) -> &'a [T] {
    let Some(from) = from else { return items };
    if backward {
        let end = items.partition_point(|x| cmp(x, from) == Ordering::Less);
        items.get(..end).unwrap_or_default()
    } else {
        let start = items.partition_point(|x| cmp(x, from) != Ordering::Greater);
        items.get(start..).unwrap_or_default()
    }
}

fn walk_ids<T>(
    slice: &[T],
    backward: bool,
    f: &mut dyn FnMut(&T) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    if backward {
        for x in slice.iter().rev() {
            if !f(x)? {
                break;
            }
        }
    } else {
        for x in slice {
            if !f(x)? {
                break;
            }
        }
    }
    Ok(())
}
