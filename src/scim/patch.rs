//! The PATCH engine (RFC 7644 §3.5.2): applies add / replace / remove to a resource's writable
//! attributes. All operations run on a copy; the first failure discards the copy, so a request
//! that fails part way leaves the resource unchanged (§3.5.2: "treated as atomic").
//!
//! The engine is strict RFC. What real clients send is turned into RFC form by `compat` before
//! the engine sees it; the two places where a quirk depends on the resource's current state
//! (create-on-absent for a filter that matches nothing, a bare string for a complex reference)
//! call a `compat` rule, which names the client.
//!
//! Error codes (RFC 7644 §3.12), and where they come from:
//! - `invalidPath`: the path is malformed, or names an attribute or sub-attribute the schema
//!   does not have, or applies a '[ ]' filter or a sub-attribute where none can apply.
//! - `invalidFilter`: a value filter compares a sub-attribute in a way its type does not allow
//!   (§3.12 lists `invalidFilter` for "PATCH (Path Filter)").
//! - `noTarget`: `remove` without a path (§3.5.2.2); an `add`/`replace` value filter that matches
//!   nothing (§3.5.2.3), unless `compat::create_on_absent_seed` can create the value.
//! - `mutability`: changing a readOnly attribute; changing or removing an immutable one that has
//!   a value (§3.5.2); removing or unassigning a required attribute (§3.5.2.2).
//! - `invalidValue`: a value of the wrong type or shape, or more than one `primary` value.

use serde_json::{Map, Value};

use super::compat::{self, OpKind, RawOp};
use super::error::{ScimError, ScimType};
use super::filter::{CompareOp, Filter, Literal};
use super::path::{AttrPath, PatchPath};
use super::resource::{
    check_required, is_derived, is_undeclared_extension, prune_empty_extensions, store_undeclared,
};
use super::schema::{AttrType, Attribute, Mutability, Registry, ResourceKind};
use super::value::{coerce, coerce_single};

/// A parsed operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub op: OpKind,
    pub path: PatchPath,
    pub value: Option<Value>,
    pub from_pathless: bool,
}

impl Operation {
    /// True when this operation targets the top-level attribute `name` of the core schema.
    pub fn targets(&self, reg: &Registry, kind: ResourceKind, name: &str) -> bool {
        match &self.path {
            PatchPath::Attr { attr, .. } => {
                attr.name.eq_ignore_ascii_case(name)
                    && attr.urn.as_deref().is_none_or(|u| reg.is_core(kind, u))
            }
            PatchPath::Extension(_) => false,
        }
    }
}

/// Refuses a PatchOp body with more than `max` operations, counted as the client sent them
/// (before `compat` splits path-less ones). 400 `tooMany`: RFC 7644 §3.12 lists it for PATCH.
pub fn check_operation_count(body: &Value, max: usize) -> Result<(), ScimError> {
    let sent = body
        .as_object()
        .and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
                .and_then(|(_, v)| v.as_array())
        })
        .map_or(0, Vec::len);
    if sent <= max {
        return Ok(());
    }
    Err(ScimError::bad_request(
        ScimType::TooMany,
        format!(
            "{sent} operations in one PATCH; the limit is {max} (max_patch_operations): \
             split the changes into several requests"
        ),
    ))
}

/// Parses a PatchOp request body into operations (quirks normalized by `compat`).
pub fn parse_request(
    reg: &Registry,
    kind: ResourceKind,
    body: &Value,
) -> Result<Vec<Operation>, ScimError> {
    let raw = compat::normalize_patch(reg, kind, body)?;
    let urns = reg.extension_urns(kind);
    raw.into_iter()
        .map(
            |RawOp {
                 op,
                 path,
                 value,
                 from_pathless,
             }| {
                Ok(Operation {
                    op,
                    path: PatchPath::parse(&path, &urns)?,
                    value,
                    from_pathless,
                })
            },
        )
        .collect()
}

/// Applies `ops` to `attrs` (the writable attributes of a resource: no id, schemas or meta).
/// On error `attrs` is untouched.
pub fn apply(
    reg: &Registry,
    kind: ResourceKind,
    attrs: &mut Map<String, Value>,
    ops: &[Operation],
) -> Result<(), ScimError> {
    *attrs = applied(reg, kind, attrs.clone(), ops)?;
    Ok(())
}

/// [`apply`] to attributes the caller gives up: on error they are dropped, so no copy is made
/// to keep them intact (the writer thread applies every PATCH).
pub fn applied(
    reg: &Registry,
    kind: ResourceKind,
    mut attrs: Map<String, Value>,
    ops: &[Operation],
) -> Result<Map<String, Value>, ScimError> {
    for op in ops {
        apply_one(reg, kind, &mut attrs, op)?;
    }
    prune_empty_extensions(&mut attrs);
    // Backstop: a required attribute that is present but blank ("  ") is an invalid value.
    check_required(reg, kind, &attrs)?;
    Ok(attrs)
}

fn apply_one(
    reg: &Registry,
    kind: ResourceKind,
    attrs: &mut Map<String, Value>,
    op: &Operation,
) -> Result<(), ScimError> {
    let (attr, filter, sub) = match &op.path {
        PatchPath::Extension(urn) => return whole_extension(reg, kind, attrs, urn, op),
        PatchPath::Attr { attr, filter, sub } => (attr, filter, sub),
    };
    let Some(resolved) = reg.resolve(kind, attr.urn.as_deref(), &attr.name) else {
        if let Some(urn) = attr.urn.as_deref() {
            if is_undeclared_extension(reg, kind, urn) {
                return undeclared(attrs, attr, filter.is_some() || sub.is_some(), op);
            }
        }
        if op.from_pathless {
            return Ok(()); // as in a POST body: unknown attributes are ignored
        }
        return Err(ScimError::invalid_path(format!(
            "\"{attr}\" is not an attribute of {}",
            kind.name()
        )));
    };
    let def = resolved.attr;
    if def.mutability == Mutability::WriteOnly {
        // `password`: accepted (Okta sends one) and never stored, so never returned.
        return Ok(());
    }
    if def.mutability == Mutability::ReadOnly || is_derived(kind, &def.name) {
        if op.from_pathless {
            // As in a POST or PUT body (RFC 7644 §3.3, §3.5.1): read-only values are ignored.
            return Ok(());
        }
        return Err(ScimError::mutability(format!(
            "\"{}\" is read-only and cannot be changed with PATCH",
            def.name
        )));
    }
    let t = Target {
        reg,
        kind,
        def,
        ext: resolved.extension,
        shown: attr.to_string(),
    };
    let before = stored(attrs, t.ext, &def.name).cloned();
    let outcome = match t.ext {
        None => on_attribute(
            attrs,
            &t,
            filter.as_ref(),
            attr.sub.as_deref().or(sub.as_deref()),
            op,
        ),
        Some(ext) => {
            // The extension's attributes live in one object under its URN; work on it alone.
            let mut inner = match attrs.remove(ext) {
                Some(Value::Object(o)) => o,
                _ => Map::new(),
            };
            let r = on_attribute(
                &mut inner,
                &t,
                filter.as_ref(),
                attr.sub.as_deref().or(sub.as_deref()),
                op,
            );
            if !inner.is_empty() {
                attrs.insert(ext.to_string(), Value::Object(inner));
            }
            r
        }
    };
    outcome?;
    guard(&t, before.as_ref(), stored(attrs, t.ext, &def.name))
}

fn on_attribute(
    container: &mut Map<String, Value>,
    t: &Target<'_>,
    filter: Option<&Filter>,
    sub: Option<&str>,
    op: &Operation,
) -> Result<(), ScimError> {
    match (filter, sub) {
        (None, None) => whole(container, t, op),
        (None, Some(s)) => sub_attribute(container, t, s, op),
        (Some(f), s) => filtered(container, t, f, s, op),
    }
}

/// The stored value of a (core or extension) attribute.
fn stored<'a>(attrs: &'a Map<String, Value>, ext: Option<&str>, name: &str) -> Option<&'a Value> {
    match ext {
        None => attrs.get(name),
        Some(u) => attrs.get(u)?.get(name),
    }
}

/// The mutability rules that depend on what an operation did, whatever its path:
/// - immutable (RFC 7644 §3.5.2): "a client MUST NOT modify an attribute that has mutability
///   … immutable"; it "MAY add a value to an immutable attribute if the attribute had no
///   previous value". Re-sending the same value changes nothing and is fine.
/// - required (§3.5.2.2): "If an attribute is removed or becomes unassigned and is defined as a
///   required attribute …, the server SHALL return … a scimType error code of mutability".
fn guard(t: &Target<'_>, before: Option<&Value>, after: Option<&Value>) -> Result<(), ScimError> {
    let Some(old) = before else {
        return Ok(());
    };
    if after == Some(old) {
        return Ok(());
    }
    if t.def.mutability == Mutability::Immutable {
        return Err(ScimError::mutability(format!(
            "\"{}\" is immutable: it can be set once but not changed or removed",
            t.shown
        )));
    }
    if t.def.required && after.is_none() {
        return Err(ScimError::mutability(format!(
            "\"{}\" is required for a {}, so it cannot be removed or set to nothing; replace it with a new value instead",
            t.def.name,
            t.kind.name()
        )));
    }
    Ok(())
}

/// `path` is a declared extension's URN: the value is an object of that extension's attributes,
/// each applied as its own operation; `remove` drops the whole extension.
fn whole_extension(
    reg: &Registry,
    kind: ResourceKind,
    attrs: &mut Map<String, Value>,
    urn: &str,
    op: &Operation,
) -> Result<(), ScimError> {
    match op.op {
        OpKind::Remove => {
            if let (Some(schema), Some(Value::Object(present))) =
                (reg.extension(kind, urn), attrs.get(urn))
            {
                for a in &schema.attributes {
                    if present.contains_key(&a.name) {
                        let t = Target {
                            reg,
                            kind,
                            def: a,
                            ext: Some(urn),
                            shown: format!("{urn}:{}", a.name),
                        };
                        guard(&t, present.get(&a.name), None)?;
                    }
                }
            }
            attrs.remove(urn);
            Ok(())
        }
        OpKind::Add | OpKind::Replace => {
            let Some(Value::Object(o)) = &op.value else {
                return Err(ScimError::invalid_value(format!(
                    "the value for \"{urn}\" must be an object of that extension's attributes"
                )));
            };
            for (k, v) in o {
                let attr = AttrPath::parse(k)
                    .map_err(|why| ScimError::invalid_path(format!("in \"{urn}\": {why}")))?;
                let inner = Operation {
                    op: op.op,
                    path: PatchPath::Attr {
                        attr: AttrPath {
                            urn: Some(urn.to_string()),
                            name: attr.name,
                            sub: attr.sub,
                        },
                        filter: None,
                        sub: None,
                    },
                    value: Some(v.clone()),
                    // Like a path-less value: unknown and read-only keys are skipped.
                    from_pathless: true,
                };
                apply_one(reg, kind, attrs, &inner)?;
            }
            Ok(())
        }
    }
}

/// PATCH on an extension no schema declares (Entra custom mappings): values are kept as sent.
/// `urn:…:Name:2.0:User` with an object value merges into that whole extension;
/// `urn:…:Name:2.0:User:attr` (or `attr.sub`) sets one attribute of it.
fn undeclared(
    attrs: &mut Map<String, Value>,
    attr: &AttrPath,
    filtered: bool,
    op: &Operation,
) -> Result<(), ScimError> {
    if filtered {
        return Err(ScimError::invalid_path(format!(
            "\"{attr}\" belongs to an extension with no declared schema, so value filters cannot apply to it"
        )));
    }
    let Some(urn) = attr.urn.as_deref() else {
        return Ok(());
    };
    let whole = format!("{urn}:{}", attr.name);
    let value = op.value.clone().unwrap_or(Value::Null);
    let clearing =
        op.op == OpKind::Remove || value.is_null() || value == Value::String(String::new());
    if attr.sub.is_none()
        && (value.is_object() || (op.op == OpKind::Remove && attrs.contains_key(&whole)))
    {
        if op.op == OpKind::Remove {
            attrs.remove(&whole);
        } else {
            store_undeclared(&whole, &value, attrs);
        }
        return Ok(());
    }
    let slot = attrs
        .entry(urn.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(ext) = slot {
        match &attr.sub {
            None if clearing => {
                ext.remove(&attr.name);
            }
            None => {
                ext.insert(attr.name.clone(), value);
            }
            Some(s) => {
                let inner = ext
                    .entry(attr.name.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !inner.is_object() {
                    *inner = Value::Object(Map::new());
                }
                if let Value::Object(o) = inner {
                    if clearing {
                        o.remove(s);
                    } else {
                        o.insert(s.clone(), value);
                    }
                    if o.is_empty() {
                        ext.remove(&attr.name);
                    }
                }
            }
        }
    }
    prune_empty_extensions(attrs);
    Ok(())
}

struct Target<'a> {
    reg: &'a Registry,
    kind: ResourceKind,
    def: &'a Attribute,
    /// The extension the attribute belongs to; `None` for core attributes.
    ext: Option<&'a str>,
    /// The attribute path as the client wrote it (without any filter), for error details.
    shown: String,
}

/// `path` names the attribute itself.
fn whole(
    container: &mut Map<String, Value>,
    t: &Target<'_>,
    op: &Operation,
) -> Result<(), ScimError> {
    let name = t.def.name.as_str();
    if op.op == OpKind::Remove {
        // §3.5.2.2: the attribute and all its values are removed; it is then unassigned.
        container.remove(name);
        return Ok(());
    }
    let raw = op.value.as_ref().unwrap_or(&Value::Null);
    if t.def.multi_valued {
        let Some(new) = coerce(t.def, raw, &t.shown)? else {
            // null and [] are "no values" (RFC 7643 §2.5): adding none changes nothing;
            // replacing with none leaves the attribute unassigned.
            if op.op == OpKind::Replace {
                container.remove(name);
            }
            return Ok(());
        };
        let Value::Array(new_items) = new else {
            return Err(ScimError::internal(
                "coerced multi-valued value is not an array",
            ));
        };
        // §3.5.2.1: add appends to the values; §3.5.2.3: replace without a filter replaces all.
        let mut items = match (op.op, container.remove(name)) {
            (OpKind::Add, Some(Value::Array(old))) => old,
            _ => Vec::new(),
        };
        let mut touched = Vec::new();
        // Values are coerced into one canonical key order, so their serialization identifies
        // them; a map keeps this linear where a scan per added value was quadratic.
        let mut index: std::collections::HashMap<String, usize> = items
            .iter()
            .enumerate()
            .map(|(i, e)| (e.to_string(), i))
            .collect();
        for item in new_items {
            // §3.5.2.1: "If the target location already contains the value specified, no
            // changes SHOULD be made to the resource".
            let key = item.to_string();
            match index.get(&key) {
                Some(&pos) => touched.push(pos),
                None => {
                    index.insert(key, items.len());
                    touched.push(items.len());
                    items.push(item);
                }
            }
        }
        let winners = primaries(&items, &touched);
        one_primary(&mut items, &winners, t)?;
        finish(container, name, items);
        return Ok(());
    }
    let new = if t.def.ty == AttrType::Complex {
        match raw {
            // §3.5.2.1 and §3.5.2.3: an object value sets the sub-attributes it names and leaves
            // the others unchanged.
            Value::Object(o) => {
                let merged = merge_complex(
                    t.def,
                    container.get(name).and_then(Value::as_object),
                    o,
                    &t.shown,
                )?;
                (!merged.is_empty()).then_some(Value::Object(merged))
            }
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            other if compat::replaces_whole_complex(other) => coerce(t.def, other, &t.shown)?,
            _ => {
                return Err(ScimError::invalid_value(format!(
                    "\"{}\" is complex: its value must be an object of its sub-attributes",
                    t.shown
                )))
            }
        }
    } else {
        // A single value: add and replace both set it (§3.5.2.1: "the existing value is
        // replaced"); null or "" leaves it unassigned (Entra's LogicApp null test).
        coerce(t.def, raw, &t.shown)?
    };
    match new {
        Some(v) => container.insert(name.to_string(), v),
        None => container.remove(name),
    };
    Ok(())
}

/// Applies an object value to a complex value: each sub-attribute it names is set, or cleared
/// when sent as null or ""; the others stay. Read-only and unknown sub-attributes are skipped,
/// as in a POST body (clients echo `manager.displayName` back).
fn merge_complex(
    def: &Attribute,
    existing: Option<&Map<String, Value>>,
    value: &Map<String, Value>,
    where_: &str,
) -> Result<Map<String, Value>, ScimError> {
    let mut out = existing.cloned().unwrap_or_default();
    for (k, v) in value {
        let Some(sd) = def.sub(k) else { continue };
        if sd.mutability == Mutability::ReadOnly {
            continue;
        }
        match coerce(sd, v, &format!("{where_}.{}", sd.name))? {
            Some(c) => {
                out.insert(sd.name.clone(), c);
            }
            None => {
                out.remove(&sd.name);
            }
        }
    }
    Ok(out)
}

fn sub_def<'a>(
    t: &Target<'a>,
    s: &str,
    op: &Operation,
) -> Result<Option<&'a Attribute>, ScimError> {
    let Some(sd) = t.def.sub(s) else {
        if op.from_pathless {
            return Ok(None);
        }
        return Err(ScimError::invalid_path(format!(
            "\"{}\" has no sub-attribute \"{s}\"",
            t.def.name
        )));
    };
    if sd.mutability == Mutability::ReadOnly {
        if op.from_pathless {
            return Ok(None);
        }
        return Err(ScimError::mutability(format!(
            "\"{}.{}\" is read-only",
            t.def.name, sd.name
        )));
    }
    Ok(Some(sd))
}

/// `path` is `attr.sub` (no filter): a complex attribute's field, or that field in every value
/// of a multi-valued attribute.
fn sub_attribute(
    container: &mut Map<String, Value>,
    t: &Target<'_>,
    s: &str,
    op: &Operation,
) -> Result<(), ScimError> {
    if t.def.ty != AttrType::Complex {
        return Err(ScimError::invalid_path(format!(
            "\"{}\" is not complex, so \"{}\" names nothing",
            t.def.name, t.shown
        )));
    }
    let Some(sd) = sub_def(t, s, op)? else {
        return Ok(());
    };
    let name = t.def.name.as_str();
    let where_ = format!("{name}.{}", sd.name);
    let new = match op.op {
        OpKind::Remove => None,
        _ => coerce(sd, op.value.as_ref().unwrap_or(&Value::Null), &where_)?,
    };
    if t.def.multi_valued {
        let mut items = take_array(container, name);
        let touched: Vec<usize> = match &new {
            // No value to set it on yet: the value is created with this one field.
            Some(v) if items.is_empty() => {
                let mut e = Map::new();
                e.insert(sd.name.clone(), v.clone());
                items.push(Value::Object(e));
                vec![0]
            }
            _ => (0..items.len()).collect(),
        };
        clear_or_set(&mut items, &touched, sd, new.clone());
        if sd.name == "primary" && new == Some(Value::Bool(true)) {
            let winners = primaries(&items, &touched);
            one_primary(&mut items, &winners, t)?;
        }
        finish(container, name, items);
        return Ok(());
    }
    let mut obj = match container.remove(name) {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    };
    match new {
        Some(v) => {
            obj.insert(sd.name.clone(), v);
        }
        None => {
            obj.remove(&sd.name);
        }
    }
    if !obj.is_empty() {
        container.insert(name.to_string(), Value::Object(obj));
    }
    Ok(())
}

/// `path` is `attr[filter]` or `attr[filter].sub`.
fn filtered(
    container: &mut Map<String, Value>,
    t: &Target<'_>,
    f: &Filter,
    s: Option<&str>,
    op: &Operation,
) -> Result<(), ScimError> {
    if !t.def.multi_valued {
        return Err(ScimError::invalid_path(format!(
            "\"{}\" is single-valued, so a '[ ]' value filter does not apply to it",
            t.def.name
        )));
    }
    check_value_filter(t, f)?;
    let complex = t.def.ty == AttrType::Complex;
    let sd = match s {
        None => None,
        Some(s) if !complex => {
            return Err(ScimError::invalid_path(format!(
                "\"{}\" holds simple values, so it has no sub-attribute \"{s}\"",
                t.def.name
            )))
        }
        Some(s) => match sub_def(t, s, op)? {
            Some(sd) => Some(sd),
            None => return Ok(()),
        },
    };
    let name = t.def.name.as_str();
    let mut items = take_array(container, name);
    let matched: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, e)| f.matches_element(e, t.def))
        .map(|(i, _)| i)
        .collect();
    let raw = op.value.as_ref().unwrap_or(&Value::Null);

    match (op.op, sd) {
        // §3.5.2.2: the values matched by the filter are removed. A filter that matches nothing
        // removes nothing: §3.5.2.2 has no noTarget rule for it, and the removal's intent holds.
        (OpKind::Remove, None) => remove_at(&mut items, &matched),
        // §3.5.2.2: the sub-attribute of the matching values is unassigned.
        (OpKind::Remove, Some(sd)) => clear_or_set(&mut items, &matched, sd, None),
        (_, Some(sd)) => {
            let where_ = format!("{name}.{}", sd.name);
            match coerce(sd, raw, &where_)? {
                // Setting it to null or "" unassigns it (Entra's LogicApp null test); with no
                // match there is nothing to unassign.
                None => clear_or_set(&mut items, &matched, sd, None),
                Some(v) => {
                    // §3.5.2.3: "the matching sub-attribute of all matching records SHALL be
                    // replaced"; no match is noTarget unless the value can be created (Entra).
                    let (touched, created) = if matched.is_empty() {
                        let mut seed =
                            compat::create_on_absent_seed(f, t.def).ok_or_else(|| no_target(t))?;
                        seed.insert(sd.name.clone(), v.clone());
                        items.push(Value::Object(seed));
                        (vec![items.len() - 1], true)
                    } else {
                        clear_or_set(&mut items, &matched, sd, Some(v.clone()));
                        (matched, false)
                    };
                    if created || (sd.name == "primary" && v == Value::Bool(true)) {
                        let winners = primaries(&items, &touched);
                        one_primary(&mut items, &winners, t)?;
                    }
                }
            }
        }
        (_, None) if !complex => match coerce_single(t.def, raw, &t.shown)? {
            None => remove_at(&mut items, &matched),
            Some(v) => {
                let Some(&first) = matched.first() else {
                    return Err(no_target(t));
                };
                // §3.5.2.3: all matching values are replaced, by one value: keep it once.
                let doomed = mask(items.len(), &matched);
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    if i == first {
                        out.push(v.clone());
                    } else if !doomed.get(i).copied().unwrap_or(false) && item != v {
                        out.push(item);
                    }
                }
                items = out;
            }
        },
        (_, None) => {
            let value: Map<String, Value> = match raw {
                Value::Object(o) => o.clone(),
                Value::Null => Map::new(),
                Value::String(s) if s.is_empty() => Map::new(),
                other => match coerce_single(t.def, other, &t.shown)? {
                    Some(Value::Object(o)) => o,
                    _ => Map::new(),
                },
            };
            if value.is_empty() {
                // Replacing the matched values with nothing removes them.
                remove_at(&mut items, &matched);
                finish(container, name, items);
                return Ok(());
            }
            let sets_primary = value
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("primary") && is_true(v));
            let (touched, created) = if matched.is_empty() {
                let seed = compat::create_on_absent_seed(f, t.def).ok_or_else(|| no_target(t))?;
                let merged = merge_complex(t.def, Some(&seed), &value, &t.shown)?;
                items.push(Value::Object(merged));
                (vec![items.len() - 1], true)
            } else {
                // §3.5.2.3: all matching record values are replaced; like any complex value
                // (§3.5.2.3), sub-attributes the value does not name are left unchanged.
                for &i in &matched {
                    if let Some(item) = items.get_mut(i) {
                        let merged = merge_complex(t.def, item.as_object(), &value, &t.shown)?;
                        *item = Value::Object(merged);
                    }
                }
                (matched, false)
            };
            if created || sets_primary {
                let winners = primaries(&items, &touched);
                one_primary(&mut items, &winners, t)?;
            }
        }
    }
    finish(container, name, items);
    Ok(())
}

fn is_true(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn take_array(container: &mut Map<String, Value>, name: &str) -> Vec<Value> {
    match container.remove(name) {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    }
}

/// `len` flags, set at `at`: membership tests in O(1) where `at.contains` was O(n).
fn mask(len: usize, at: &[usize]) -> Vec<bool> {
    let mut m = vec![false; len];
    for &i in at {
        if let Some(slot) = m.get_mut(i) {
            *slot = true;
        }
    }
    m
}

fn remove_at(items: &mut Vec<Value>, doomed: &[usize]) {
    let doomed = mask(items.len(), doomed);
    let mut i = 0;
    items.retain(|_| {
        let keep = !doomed.get(i).copied().unwrap_or(false);
        i += 1;
        keep
    });
}

/// Sets (or, with `None`, unassigns) sub-attribute `sd` in the values at `at`. A value whose
/// `value` sub-attribute is unassigned is dropped whole: an email, phone number or role without
/// its value is no value at all, so `remove emails[type eq "work"].value` (Entra, INTEROP P19)
/// leaves no value-less `{"type":"work"}` behind for filters to keep matching.
fn clear_or_set(items: &mut Vec<Value>, at: &[usize], sd: &Attribute, v: Option<Value>) {
    let dropping = v.is_none() && sd.name == "value";
    for &i in at {
        if let Some(Value::Object(o)) = items.get_mut(i) {
            match &v {
                Some(v) => {
                    o.insert(sd.name.clone(), v.clone());
                }
                None => {
                    o.remove(&sd.name);
                }
            }
        }
    }
    if dropping {
        remove_at(items, at);
    }
}

/// Stores the values, without empty ones; no values left leaves the attribute unassigned
/// (§3.5.2.2: "If no other values remain …, the multi-valued attribute SHALL be considered
/// unassigned").
fn finish(container: &mut Map<String, Value>, name: &str, items: Vec<Value>) {
    let items: Vec<Value> = items
        .into_iter()
        .filter(|e| e.as_object().is_none_or(|o| !o.is_empty()))
        .collect();
    if !items.is_empty() {
        container.insert(name.to_string(), Value::Array(items));
    }
}

fn no_target(t: &Target<'_>) -> ScimError {
    ScimError::no_target(format!(
        "no value of \"{}\" matches the filter in the path, so there is nothing to change; only a plain equality filter such as {}[type eq \"work\"] creates a missing value",
        t.def.name, t.shown
    ))
}

/// A value filter may name only sub-attributes of the attribute it filters (or `value` for a
/// simple multi-valued attribute): anything else is a path to nothing, `invalidPath`. Then each
/// comparison must suit its sub-attribute's type: a mismatch is `invalidFilter` (§3.12: "the
/// specified attribute and filter comparison combination is not supported", PATCH path filter).
fn check_value_filter(t: &Target<'_>, f: &Filter) -> Result<(), ScimError> {
    check_names(f, t.def)?;
    let scoped = Filter::ValuePath {
        attr: AttrPath {
            urn: t.ext.map(str::to_string),
            name: t.def.name.clone(),
            sub: None,
        },
        filter: Box::new(f.clone()),
    };
    scoped.check(t.reg, t.kind)
}

fn check_names(f: &Filter, def: &Attribute) -> Result<(), ScimError> {
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => {
            check_names(a, def)?;
            check_names(b, def)
        }
        Filter::Not(a) => check_names(a, def),
        Filter::Present(p) | Filter::Compare { attr: p, .. } => {
            let known = if def.ty == AttrType::Complex {
                def.sub(&p.name).is_some()
            } else {
                p.name.eq_ignore_ascii_case("value")
            };
            if p.urn.is_some() || p.sub.is_some() || !known {
                return Err(ScimError::invalid_path(format!(
                    "\"{}\" has no sub-attribute \"{p}\" to filter on",
                    def.name
                )));
            }
            Ok(())
        }
        Filter::ValuePath { .. } => Err(ScimError::invalid_path("value filters cannot be nested")),
    }
}

/// The values at `touched` that are primary.
fn primaries(items: &[Value], touched: &[usize]) -> Vec<usize> {
    touched
        .iter()
        .copied()
        .filter(|&i| items.get(i).is_some_and(is_primary))
        .collect()
}

fn is_primary(v: &Value) -> bool {
    v.get("primary") == Some(&Value::Bool(true))
}

/// `primary: true` appears at most once (RFC 7643 §2.4). §3.5.2: an operation that sets a
/// value's primary to true "SHALL cause the server to automatically set primary to false for
/// any other values" (done by unassigning it, which reads as false). An operation that would
/// make two values primary asks the impossible: `invalidValue`.
fn one_primary(items: &mut [Value], winners: &[usize], t: &Target<'_>) -> Result<(), ScimError> {
    let w = match winners {
        [] => return Ok(()),
        [w] => *w,
        _ => {
            return Err(ScimError::invalid_value(format!(
            "this operation marks {} values of \"{}\" as primary; at most one value can be primary",
            winners.len(),
            t.def.name
        )))
        }
    };
    for (i, item) in items.iter_mut().enumerate() {
        if i != w && is_primary(item) {
            if let Value::Object(o) = item {
                o.remove("primary");
            }
        }
    }
    Ok(())
}

/// For `members[value eq "a" or value eq "b"]`: the ids named, so a group's members can be
/// removed without reading the member list. `None` for any other filter shape.
pub fn value_eq_ids(f: &Filter) -> Option<Vec<String>> {
    match f {
        Filter::Compare {
            attr,
            op: CompareOp::Eq,
            value: Literal::String(s),
        } if attr.urn.is_none()
            && attr.sub.is_none()
            && attr.name.eq_ignore_ascii_case("value") =>
        {
            Some(vec![s.clone()])
        }
        Filter::Or(a, b) => {
            let mut v = value_eq_ids(a)?;
            v.extend(value_eq_ids(b)?);
            Some(v)
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "tests/patch.rs"]
mod tests;

/// One table per RFC 7644 §3.5.2 rule group. Every row names the rule it checks; every refusal
/// is also checked to leave the resource exactly as it was, alone and after a valid operation.
#[cfg(test)]
#[path = "tests/patch_rules.rs"]
mod rfc_rules;
