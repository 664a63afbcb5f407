//! The order a BulkRequest runs in. RFC 7644 §3.7.2 makes the server resolve `bulkId`
//! references whatever the order of the operations: operations run in request order, except that
//! one waiting for a POST further down is deferred until right after it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::{conflict, Operation};
use crate::scim::error::ScimError;
use crate::scim::value::truncate;

/// One step of the plan, by index into `Operations`.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Run(usize),
    /// Refused before it runs: malformed, an unknown bulkId, or a circular reference.
    Refuse(usize, ScimError),
}

/// Every operation appears exactly once. A dependency is the POST declaring a referenced
/// bulkId; an operation becomes ready once all of them are done (run or refused), and among
/// the ready ones the earliest in the request goes first.
pub fn plan(ops: &[Operation]) -> Vec<Step> {
    let posts: HashMap<&str, usize> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| op.declared_post_id().map(|b| (b, i)))
        .collect();
    // Refusals that need no other operation: they take their place in request order.
    let mut upfront: HashMap<usize, ScimError> = HashMap::new();
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); ops.len()];
    for (i, op) in ops.iter().enumerate() {
        let action = match &op.action {
            Ok(a) => a,
            Err(e) => {
                upfront.insert(i, e.clone());
                continue;
            }
        };
        let mut wait = Vec::new();
        for r in &action.refs {
            match posts.get(r.as_str()) {
                Some(&p) => wait.push(p),
                None => {
                    upfront.insert(i, unknown(ops, r));
                    break;
                }
            }
        }
        if !upfront.contains_key(&i) {
            if let Some(d) = deps.get_mut(i) {
                *d = wait;
            }
        }
    }

    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); ops.len()];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            if let Some(list) = dependents.get_mut(d) {
                list.push(i);
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = waiting
        .iter()
        .enumerate()
        .filter(|(_, n)| **n == 0)
        .map(|(i, _)| Reverse(i))
        .collect();
    let mut out = Vec::with_capacity(ops.len());
    let mut done = vec![false; ops.len()];
    while let Some(Reverse(i)) = ready.pop() {
        if let Some(d) = done.get_mut(i) {
            *d = true;
        }
        out.push(match upfront.remove(&i) {
            Some(e) => Step::Refuse(i, e),
            None => Step::Run(i),
        });
        for &j in dependents.get(i).map(Vec::as_slice).unwrap_or_default() {
            if let Some(w) = waiting.get_mut(j) {
                *w = w.saturating_sub(1);
                if *w == 0 {
                    ready.push(Reverse(j));
                }
            }
        }
    }
    // What never became ready waits, directly or not, on a cycle of POSTs (RFC 7644 §3.7.1).
    // Each such operation has an unfinished dependency, or it would have become ready.
    let next: Vec<Option<usize>> = deps
        .iter()
        .zip(&done)
        .map(|(ds, is_done)| {
            let unfinished = |d: &usize| !done.get(*d).copied().unwrap_or(true);
            ds.iter().copied().find(unfinished).filter(|_| !is_done)
        })
        .collect();
    for (i, is_done) in done.iter().enumerate() {
        if !is_done {
            out.push(Step::Refuse(i, circular(ops, &next, i)));
        }
    }
    out
}

fn unknown(ops: &[Operation], bulk_id: &str) -> ScimError {
    let shown = truncate(bulk_id, 80);
    let other = ops
        .iter()
        .find(|op| op.bulk_id.as_deref() == Some(bulk_id))
        .and_then(|op| op.method.as_deref());
    conflict(match other {
        Some(m) => format!(
            "bulkId \"{shown}\" belongs to a {} operation; only the bulkId of a POST in the same request can be referenced",
            truncate(m, 20)
        ),
        None => format!(
            "bulkId \"{shown}\" is not the bulkId of any POST in this request, so \"bulkId:{shown}\" cannot be resolved"
        ),
    })
}

/// Names the cycle an unfinished operation waits on: following `next` from `start` repeats an
/// operation after at most one step per operation.
fn circular(ops: &[Operation], next: &[Option<usize>], start: usize) -> ScimError {
    let mut path = vec![start];
    let mut at: HashMap<usize, usize> = HashMap::from([(start, 0)]);
    let mut cur = start;
    let cycle: Vec<usize> = loop {
        let Some(n) = next.get(cur).copied().flatten() else {
            // Unreachable by construction; still a refusal, never a panic.
            break vec![start];
        };
        if let Some(&pos) = at.get(&n) {
            break path.split_off(pos);
        }
        at.insert(n, path.len());
        path.push(n);
        cur = n;
    };
    let name = |i: usize| {
        ops.get(i)
            .and_then(|op| op.bulk_id.as_deref())
            .map(|b| format!("\"{}\"", truncate(b, 80)))
            .unwrap_or_else(|| format!("Operations[{i}]"))
    };
    // A long cycle is shown by its start: every operation of it repeats the detail, and a
    // thousand-name chain in each would make the response enormous.
    const SHOWN: usize = 5;
    let mut chain: Vec<String> = cycle.iter().take(SHOWN).map(|i| name(*i)).collect();
    if cycle.len() > SHOWN {
        chain.push(format!("… ({} operations in all)", cycle.len()));
    }
    if let Some(first) = cycle.first() {
        chain.push(name(*first));
    }
    let chain = chain.join(" references ");
    conflict(if cycle.contains(&start) {
        format!(
            "circular bulkId reference: {chain}, so none of them can be created first; create them without these references, then add them with a PATCH"
        )
    } else {
        format!(
            "this operation waits on a circular bulkId reference ({chain}) that cannot be resolved"
        )
    })
}
