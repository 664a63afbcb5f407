//! The PATCH engine (RFC 7644 §3.5.2): applies add / replace / remove to a resource's writable
//! attributes. All operations run on a copy; the first failure discards the copy, so a request
//! that fails part way leaves the resource unchanged.

use serde_json::{Map, Value};

use super::compat::{self, OpKind, RawOp};
use super::error::ScimError;
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
    let mut work = attrs.clone();
    for op in ops {
        apply_one(reg, kind, &mut work, op)?;
    }
    prune_empty_extensions(&mut work);
    check_required(reg, kind, &work)?;
    *attrs = work;
    Ok(())
}

fn apply_one(
    reg: &Registry,
    kind: ResourceKind,
    attrs: &mut Map<String, Value>,
    op: &Operation,
) -> Result<(), ScimError> {
    match &op.path {
        PatchPath::Extension(urn) => match op.op {
            OpKind::Remove => {
                attrs.remove(urn.as_str());
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
                                urn: Some(urn.clone()),
                                name: attr.name,
                                sub: attr.sub,
                            },
                            filter: None,
                            sub: None,
                        },
                        value: Some(v.clone()),
                        from_pathless: true,
                    };
                    apply_one(reg, kind, attrs, &inner)?;
                }
                Ok(())
            }
        },
        PatchPath::Attr { attr, filter, sub } => {
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
                    return Ok(());
                }
                return Err(ScimError::mutability(format!(
                    "\"{}\" is read-only and cannot be changed with PATCH",
                    def.name
                )));
            }
            let container = match resolved.extension {
                None => attrs,
                Some(ext) => {
                    let slot = attrs
                        .entry(ext.to_string())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if !slot.is_object() {
                        *slot = Value::Object(Map::new());
                    }
                    match slot {
                        Value::Object(o) => o,
                        _ => return Err(ScimError::internal("extension slot is not an object")),
                    }
                }
            };
            let target = Target {
                def,
                name: &def.name,
                shown: attr.to_string(),
            };
            match (filter, attr.sub.as_deref().or(sub.as_deref())) {
                (None, None) => whole(container, &target, op),
                (None, Some(s)) => sub_attribute(container, &target, s, op),
                (Some(f), s) => filtered(container, &target, f, s, op),
            }
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
    def: &'a Attribute,
    name: &'a str,
    shown: String,
}

fn check_immutable(
    t: &Target<'_>,
    existing: Option<&Value>,
    new: Option<&Value>,
) -> Result<(), ScimError> {
    if t.def.mutability == Mutability::Immutable {
        if let Some(old) = existing {
            if Some(old) != new {
                return Err(ScimError::mutability(format!(
                    "\"{}\" is immutable: it can be set once but not changed",
                    t.shown
                )));
            }
        }
    }
    Ok(())
}

/// `path` names the attribute itself.
fn whole(
    container: &mut Map<String, Value>,
    t: &Target<'_>,
    op: &Operation,
) -> Result<(), ScimError> {
    if op.op == OpKind::Remove {
        if t.def.mutability == Mutability::Immutable && container.contains_key(t.name) {
            return Err(ScimError::mutability(format!(
                "\"{}\" is immutable and cannot be removed",
                t.shown
            )));
        }
        container.remove(t.name);
        return Ok(());
    }
    let raw = op.value.as_ref().unwrap_or(&Value::Null);
    let coerced = coerce(t.def, raw, &t.shown)?;
    let Some(new) = coerced else {
        // replace/add with null or "" clears the attribute (Entra's LogicApp null test).
        container.remove(t.name);
        return Ok(());
    };
    if t.def.multi_valued {
        let Value::Array(new_items) = new else {
            return Err(ScimError::internal(
                "coerced multi-valued value is not an array",
            ));
        };
        let mut items = match (op.op, container.remove(t.name)) {
            (OpKind::Add, Some(Value::Array(old))) => old,
            _ => Vec::new(),
        };
        let mut touched = Vec::new();
        for item in new_items {
            // Adding a value that is already there changes nothing (RFC 7644 §3.5.2.1).
            match items.iter().position(|e| *e == item) {
                Some(pos) => touched.push(pos),
                None => {
                    touched.push(items.len());
                    items.push(item);
                }
            }
        }
        enforce_single_primary(&mut items, &touched);
        container.insert(t.name.to_string(), Value::Array(items));
        return Ok(());
    }
    if t.def.ty == AttrType::Complex {
        // A complex value merges: sub-attributes not in the value stay (RFC 7644 §3.5.2.1, .3).
        let mut merged = match container.get(t.name) {
            Some(Value::Object(o)) => o.clone(),
            _ => Map::new(),
        };
        if let Value::Object(n) = &new {
            for (k, v) in n {
                merged.insert(k.clone(), v.clone());
            }
        }
        let merged = Value::Object(merged);
        check_immutable(t, container.get(t.name), Some(&merged))?;
        container.insert(t.name.to_string(), merged);
        return Ok(());
    }
    check_immutable(t, container.get(t.name), Some(&new))?;
    container.insert(t.name.to_string(), new);
    Ok(())
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
    let where_ = format!("{}.{}", t.def.name, sd.name);
    let new = match op.op {
        OpKind::Remove => None,
        _ => coerce(sd, op.value.as_ref().unwrap_or(&Value::Null), &where_)?,
    };
    if t.def.multi_valued {
        let mut items = match container.remove(t.name) {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        if items.is_empty() {
            if let Some(v) = new.clone() {
                let mut e = Map::new();
                e.insert(sd.name.clone(), v);
                items.push(Value::Object(e));
            }
        } else {
            for item in items.iter_mut() {
                set_field(item, &sd.name, new.clone());
            }
            items.retain(|e| e.as_object().is_some_and(|o| !o.is_empty()));
        }
        if sd.name == "primary" && new == Some(Value::Bool(true)) && items.len() > 1 {
            return Err(ScimError::invalid_value(format!(
                "setting \"{where_}\" to true on every value would make more than one primary"
            )));
        }
        if !items.is_empty() {
            container.insert(t.name.to_string(), Value::Array(items));
        }
        return Ok(());
    }
    let mut obj = match container.remove(t.name) {
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
        container.insert(t.name.to_string(), Value::Object(obj));
    }
    Ok(())
}

fn set_field(item: &mut Value, name: &str, v: Option<Value>) {
    if let Value::Object(o) = item {
        match v {
            Some(v) => {
                o.insert(name.to_string(), v);
            }
            None => {
                o.remove(name);
            }
        }
    }
}

/// `path` is `attr[filter]` or `attr[filter].sub`.
fn filtered(
    container: &mut Map<String, Value>,
    t: &Target<'_>,
    f: &Filter,
    s: Option<&str>,
    op: &Operation,
) -> Result<(), ScimError> {
    if !t.def.multi_valued || t.def.ty != AttrType::Complex {
        return Err(ScimError::invalid_path(format!(
            "\"{}\" is not a multi-valued complex attribute, so a '[ ]' filter does not apply",
            t.def.name
        )));
    }
    let checker = Filter::ValuePath {
        attr: AttrPath::simple(&t.def.name),
        filter: Box::new(f.clone()),
    };
    // Reuse the filter checker by wrapping: the inner names must be sub-attributes.
    check_value_filter(&checker, t.def)?;
    let sd = match s {
        Some(s) => match sub_def(t, s, op)? {
            Some(sd) => Some(sd),
            None => return Ok(()),
        },
        None => None,
    };
    let mut items = match container.remove(t.name) {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let matched: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, e)| f.matches_element(e, t.def))
        .map(|(i, _)| i)
        .collect();

    let new: Option<Value> = match (op.op, sd) {
        (OpKind::Remove, _) => None,
        (_, Some(sd)) => coerce(
            sd,
            op.value.as_ref().unwrap_or(&Value::Null),
            &format!("{}.{}", t.def.name, sd.name),
        )?,
        (_, None) => coerce_single(t.def, op.value.as_ref().unwrap_or(&Value::Null), &t.shown)?,
    };

    match (op.op, sd) {
        (OpKind::Remove, None) => {
            let mut i = 0;
            items.retain(|_| {
                let keep = !matched.contains(&i);
                i += 1;
                keep
            });
        }
        (_, Some(sd)) => {
            let clearing = new.is_none();
            if matched.is_empty() {
                if !clearing {
                    // Create-on-absent: Entra and Microsoft's validator set
                    // `emails[type eq "work"].value` on a user with no work email (INTEROP U5, P5).
                    let mut seed = eq_seed(f, t.def).ok_or_else(|| no_target(t, f))?;
                    if let Some(v) = new.clone() {
                        seed.insert(sd.name.clone(), v);
                    }
                    items.push(Value::Object(seed));
                    let last = items.len() - 1;
                    enforce_single_primary(&mut items, &[last]);
                }
            } else {
                for &i in &matched {
                    if let Some(item) = items.get_mut(i) {
                        set_field(item, &sd.name, new.clone());
                    }
                }
                if clearing && sd.name == "value" {
                    // A value-less email or phone number is nothing; drop the whole entry.
                    let mut i = 0;
                    items.retain(|_| {
                        let keep = !matched.contains(&i);
                        i += 1;
                        keep
                    });
                }
                if sd.name == "primary" && new == Some(Value::Bool(true)) {
                    enforce_single_primary(&mut items, &matched);
                }
            }
        }
        (_, None) => {
            let Some(Value::Object(n)) = new else {
                // Replacing matched values with nothing removes them.
                let mut i = 0;
                items.retain(|_| {
                    let keep = !matched.contains(&i);
                    i += 1;
                    keep
                });
                finish(container, t, items);
                return Ok(());
            };
            if matched.is_empty() {
                let mut seed = eq_seed(f, t.def).ok_or_else(|| no_target(t, f))?;
                for (k, v) in n {
                    seed.insert(k, v);
                }
                items.push(Value::Object(seed));
                let last = items.len() - 1;
                enforce_single_primary(&mut items, &[last]);
            } else {
                for &i in &matched {
                    if let Some(Value::Object(o)) = items.get_mut(i) {
                        for (k, v) in &n {
                            o.insert(k.clone(), v.clone());
                        }
                    }
                }
                enforce_single_primary(&mut items, &matched);
            }
        }
    }
    finish(container, t, items);
    Ok(())
}

fn finish(container: &mut Map<String, Value>, t: &Target<'_>, items: Vec<Value>) {
    let items: Vec<Value> = items
        .into_iter()
        .filter(|e| e.as_object().is_some_and(|o| !o.is_empty()))
        .collect();
    if !items.is_empty() {
        container.insert(t.name.to_string(), Value::Array(items));
    }
}

fn no_target(t: &Target<'_>, _f: &Filter) -> ScimError {
    ScimError::no_target(format!(
        "no value of \"{}\" matches the filter in \"{}\", and the filter is not a plain equality from which a new value could be created",
        t.def.name, t.shown
    ))
}

fn check_value_filter(f: &Filter, def: &Attribute) -> Result<(), ScimError> {
    // Build a one-attribute registry view: the parent attribute is the scope.
    if let Filter::ValuePath { filter, .. } = f {
        return check_in_element(filter, def);
    }
    Ok(())
}

fn check_in_element(f: &Filter, def: &Attribute) -> Result<(), ScimError> {
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => {
            check_in_element(a, def)?;
            check_in_element(b, def)
        }
        Filter::Not(a) => check_in_element(a, def),
        Filter::Present(p) | Filter::Compare { attr: p, .. } => {
            if p.urn.is_some() || p.sub.is_some() || def.sub(&p.name).is_none() {
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

/// The value a create-on-absent starts from: `type eq "work"` gives `{"type":"work"}`;
/// an `and` of equalities gives all of them. Anything else cannot seed a new value.
fn eq_seed(f: &Filter, def: &Attribute) -> Option<Map<String, Value>> {
    match f {
        Filter::Compare {
            attr,
            op: CompareOp::Eq,
            value,
        } if attr.urn.is_none() && attr.sub.is_none() => {
            let sd = def.sub(&attr.name)?;
            let v = match value {
                Literal::String(s) => Value::String(s.clone()),
                Literal::Bool(b) => Value::Bool(*b),
                Literal::Number(n) => Value::Number(n.clone()),
                Literal::Null => return None,
            };
            let v = coerce_single(sd, &v, &sd.name).ok()??;
            let mut m = Map::new();
            m.insert(sd.name.clone(), v);
            Some(m)
        }
        Filter::And(a, b) => {
            let mut m = eq_seed(a, def)?;
            for (k, v) in eq_seed(b, def)? {
                m.insert(k, v);
            }
            Some(m)
        }
        _ => None,
    }
}

/// RFC 7643 §2.4: `primary: true` appears at most once. The values this operation touched win;
/// `primary` is dropped from the others.
fn enforce_single_primary(items: &mut [Value], touched: &[usize]) {
    let is_primary = |v: &Value| v.get("primary") == Some(&Value::Bool(true));
    let winner = touched
        .iter()
        .rev()
        .copied()
        .find(|&i| items.get(i).is_some_and(is_primary))
        .or_else(|| items.iter().position(is_primary));
    let Some(w) = winner else { return };
    for (i, item) in items.iter_mut().enumerate() {
        if i != w && is_primary(item) {
            if let Value::Object(o) = item {
                o.remove("primary");
            }
        }
    }
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
mod tests {
    use super::*;
    use crate::scim::schema::URN_ENTERPRISE_USER;
    use serde_json::json;

    fn run(doc: Value, body: Value) -> Result<Value, ScimError> {
        let reg = Registry::new();
        let ops = parse_request(&reg, ResourceKind::User, &body)?;
        let Value::Object(mut attrs) = doc else {
            panic!()
        };
        apply(&reg, ResourceKind::User, &mut attrs, &ops)?;
        Ok(Value::Object(attrs))
    }

    fn ops(list: Value) -> Value {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": list})
    }

    fn base() -> Value {
        json!({"userName": "a", "active": true,
               "emails": [{"value": "a@work", "type": "work", "primary": true}],
               "name": {"givenName": "A", "familyName": "F"}})
    }

    #[test]
    fn entra_u5_replaces_work_email_value_and_family_name() {
        let out = run(
            base(),
            ops(json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@work"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}])),
        )
        .unwrap();
        assert_eq!(
            out["emails"],
            json!([{"value": "new@work", "type": "work", "primary": true}])
        );
        assert_eq!(
            out["name"],
            json!({"givenName": "A", "familyName": "updatedFamilyName"})
        );
    }

    #[test]
    fn create_on_absent_for_typed_paths() {
        let out = run(json!({"userName": "a"}), ops(json!([
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "w@x"},
            {"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1"},
            {"op": "replace", "path": "addresses[type eq \"work\"].postalCode", "value": "12345"}]))).unwrap();
        assert_eq!(out["emails"], json!([{"type": "work", "value": "w@x"}]));
        assert_eq!(
            out["phoneNumbers"],
            json!([{"type": "mobile", "value": "+1"}])
        );
        assert_eq!(
            out["addresses"],
            json!([{"type": "work", "postalCode": "12345"}])
        );
    }

    #[test]
    fn disable_with_every_entra_variant() {
        for v in [json!(false), json!("False"), json!("false")] {
            let out = run(
                base(),
                ops(json!([{"op": "Replace", "path": "active", "value": v}])),
            )
            .unwrap();
            assert_eq!(out["active"], json!(false));
        }
        let out = run(
            base(),
            ops(json!([{"op": "replace", "value": {"active": false}}])),
        )
        .unwrap();
        assert_eq!(out["active"], json!(false));
    }

    #[test]
    fn pathless_dotted_and_urn_keys_become_nested_attributes() {
        let out = run(base(), ops(json!([{"op": "replace", "value": {
            "displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"}}]))).unwrap();
        assert_eq!(out["displayName"], "Bjfe");
        assert_eq!(
            out["name"],
            json!({"givenName": "Kkom", "familyName": "Unua"})
        );
        assert_eq!(out[URN_ENTERPRISE_USER]["employeeNumber"], "Aklq");
        assert!(out.get("name.givenName").is_none());
    }

    #[test]
    fn manager_set_change_clear_as_bare_string() {
        let p = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
        let out = run(
            base(),
            ops(json!([{"op": "Add", "path": p, "value": "m1"}])),
        )
        .unwrap();
        assert_eq!(out[URN_ENTERPRISE_USER]["manager"], json!({"value": "m1"}));
        let out = run(
            out,
            ops(json!([{"op": "replace", "path": p, "value": "m2"}])),
        )
        .unwrap();
        assert_eq!(out[URN_ENTERPRISE_USER]["manager"], json!({"value": "m2"}));
        let out = run(out, ops(json!([{"op": "replace", "path": p, "value": ""}]))).unwrap();
        assert!(out.get(URN_ENTERPRISE_USER).is_none(), "{out}");
        // Entra's legacy form: the short path and an array of one reference.
        let out = run(base(), ops(json!([{"op": "Add", "path": "manager", "value": [{"$ref": "http://x/Users/m3", "value": "m3"}]}]))).unwrap();
        assert_eq!(
            out[URN_ENTERPRISE_USER]["manager"],
            json!({"value": "m3", "$ref": "http://x/Users/m3"})
        );
    }

    #[test]
    fn remove_with_value_on_filtered_sub_path_clears_it() {
        let out = run(base(), ops(json!([{"op": "Remove", "path": "emails[type eq \"work\"].value", "value": "a@work"}]))).unwrap();
        assert!(out.get("emails").is_none(), "{out}");
    }

    #[test]
    fn errors_leave_the_resource_unchanged_and_name_the_problem() {
        let cases = [
            (
                json!([{"op": "replace", "path": "title", "value": "T"}, {"op": "replace", "path": "nosuch", "value": 1}]),
                "invalidPath",
            ),
            (
                json!([{"op": "replace", "path": "id", "value": "x"}]),
                "mutability",
            ),
            (
                json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}]),
                "mutability",
            ),
            (
                json!([{"op": "replace", "path": "active", "value": "maybe"}]),
                "invalidValue",
            ),
            (
                json!([{"op": "remove", "path": "userName"}]),
                "invalidValue",
            ),
            (
                json!([{"op": "replace", "path": "emails[value co \"zzz\"].type", "value": "home"}]),
                "noTarget",
            ),
            (
                json!([{"op": "replace", "path": "emails[nosuch eq \"x\"].value", "value": "v"}]),
                "invalidPath",
            ),
        ];
        for (list, want) in cases {
            let e = run(base(), ops(list.clone())).unwrap_err();
            assert_eq!(e.scim_type.map(|t| t.as_str()), Some(want), "{list}: {e}");
        }
    }

    #[test]
    fn primary_stays_unique() {
        let doc = json!({"userName": "a", "emails": [
            {"value": "1", "type": "work", "primary": true}, {"value": "2", "type": "home"}]});
        let out = run(doc, ops(json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": "true"}]))).unwrap();
        assert_eq!(
            out["emails"],
            json!([{"value": "1", "type": "work"}, {"value": "2", "type": "home", "primary": true}])
        );
    }

    #[test]
    fn password_is_accepted_and_never_stored() {
        for op in ["add", "replace"] {
            let out = run(
                base(),
                ops(json!([{"op": op, "path": "password", "value": "s3cret"}])),
            )
            .unwrap();
            assert!(out.get("password").is_none(), "{out}");
        }
        let out = run(
            base(),
            ops(json!([{"op": "replace", "value": {"password": "s3cret", "title": "T"}}])),
        )
        .unwrap();
        assert!(out.get("password").is_none(), "{out}");
        assert_eq!(out["title"], "T");
    }

    #[test]
    fn add_is_idempotent_for_multi_valued() {
        let once = run(base(), ops(json!([{"op": "add", "path": "emails", "value": [{"value": "a@work", "type": "work", "primary": true}]}]))).unwrap();
        assert_eq!(once["emails"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn entra_custom_extension_attributes_are_patched_as_sent() {
        let custom = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
        let out = run(
            base(),
            ops(json!([
            {"op": "Add", "path": format!("{custom}:costCode"), "value": "C1"},
            {"op": "replace", "value": {format!("{custom}:badge"): "B7"}},
            {"op": "add", "path": format!("{custom}:site.city"), "value": "Oslo"}])),
        )
        .unwrap();
        assert_eq!(
            out[custom],
            json!({"costCode": "C1", "badge": "B7", "site": {"city": "Oslo"}})
        );
        let out = run(
            out,
            ops(json!([
            {"op": "Remove", "path": format!("{custom}:costCode")},
            {"op": "replace", "path": format!("{custom}:badge"), "value": ""}])),
        )
        .unwrap();
        assert_eq!(out[custom], json!({"site": {"city": "Oslo"}}));
        let out = run(
            out,
            ops(json!([{"op": "replace", "path": custom, "value": {"tier": 2}}])),
        )
        .unwrap();
        assert_eq!(out[custom], json!({"site": {"city": "Oslo"}, "tier": 2}));
        let out = run(out, ops(json!([{"op": "remove", "path": custom}]))).unwrap();
        assert!(out.get(custom).is_none(), "{out}");
        let e = run(base(), ops(json!([{"op": "add", "path": format!("{custom}:list[type eq \"x\"].v"), "value": 1}]))).unwrap_err();
        assert_eq!(e.scim_type, Some(crate::scim::error::ScimType::InvalidPath));
    }

    #[test]
    fn value_eq_ids_extracts_member_ids() {
        let f = crate::scim::filter::parse(r#"value eq "a" or value eq "b""#).unwrap();
        assert_eq!(value_eq_ids(&f), Some(vec!["a".into(), "b".into()]));
        let g = crate::scim::filter::parse(r#"type eq "User""#).unwrap();
        assert_eq!(value_eq_ids(&g), None);
    }
}
