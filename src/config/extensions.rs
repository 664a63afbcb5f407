//! `[[extensions]]`: extension schemas an administrator declares, e.g. for the attributes an
//! Entra custom mapping sends. Declared attributes are typed, validated, filterable and PATCHable
//! like core ones and are published in `/Schemas` and `/ResourceTypes`.

use serde::Deserialize;

use super::{bad, Bad, Problem};
use crate::scim::schema::{
    AttrType, Attribute, Mutability, Registry, ResourceKind, Returned, Schema,
};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExtension {
    urn: Option<String>,
    resource: Option<String>,
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    attributes: Vec<RawAttribute>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttribute {
    name: Option<String>,
    #[serde(rename = "type")]
    ty: Option<String>,
    multi_valued: Option<bool>,
    case_exact: Option<bool>,
    mutability: Option<String>,
    returned: Option<String>,
    description: Option<String>,
}

/// A validated extension schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionSettings {
    pub urn: String,
    pub resource: String,
    pub name: String,
    pub description: String,
    pub attributes: Vec<ExtensionAttribute>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionAttribute {
    pub name: String,
    pub ty: String,
    pub multi_valued: bool,
    pub case_exact: bool,
    pub mutability: String,
    pub returned: String,
    pub description: String,
}

fn attr_type(s: &str) -> Option<AttrType> {
    Some(match s {
        "string" => AttrType::String,
        "boolean" => AttrType::Boolean,
        "integer" => AttrType::Integer,
        "decimal" => AttrType::Decimal,
        "dateTime" => AttrType::DateTime,
        "reference" => AttrType::Reference,
        "binary" => AttrType::Binary,
        _ => return None,
    })
}

fn mutability(s: &str) -> Option<Mutability> {
    Some(match s {
        "readWrite" => Mutability::ReadWrite,
        "immutable" => Mutability::Immutable,
        "writeOnly" => Mutability::WriteOnly,
        _ => return None,
    })
}

fn returned(s: &str) -> Option<Returned> {
    Some(match s {
        "default" => Returned::Default,
        "always" => Returned::Always,
        "request" => Returned::Request,
        "never" => Returned::Never,
        _ => return None,
    })
}

fn resource(s: &str) -> Option<ResourceKind> {
    match s {
        "User" => Some(ResourceKind::User),
        "Group" => Some(ResourceKind::Group),
        _ => None,
    }
}

fn attr_name(name: &str) -> Result<(), Bad> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(bad(
            format!("\"{name}\" is not a valid attribute name"),
            "a letter, then letters, digits, '_' or '-' (RFC 7643 §2.1)",
        ))
    }
}

pub(super) fn validate_extensions(
    raw: Vec<RawExtension>,
    problems: &mut Vec<Problem>,
) -> Vec<ExtensionSettings> {
    let builtin = Registry::new();
    let mut out: Vec<ExtensionSettings> = Vec::new();
    for (i, ext) in raw.into_iter().enumerate() {
        let key = |k: &str| format!("extensions[{i}].{k}");
        let before = problems.len();
        let urn = ext.urn.unwrap_or_default();
        if urn.is_empty() {
            problems.push(
                bad(
                    "is missing",
                    "e.g. urn = \"urn:ietf:params:scim:schemas:extension:acme:2.0:User\"",
                )
                .at(key("urn")),
            );
        } else if !urn.to_ascii_lowercase().starts_with("urn:") || urn.contains(char::is_whitespace)
        {
            problems.push(
                bad(
                    format!("\"{urn}\" is not a URN"),
                    "it starts with \"urn:\" and has no spaces",
                )
                .at(key("urn")),
            );
        } else if builtin.is_builtin(&urn) {
            problems.push(
                bad(
                    format!("\"{urn}\" is a built-in schema"),
                    "choose a URN of your own",
                )
                .at(key("urn")),
            );
        } else if out.iter().any(|e| e.urn.eq_ignore_ascii_case(&urn)) {
            problems.push(
                bad(
                    format!("\"{urn}\" is declared twice"),
                    "declare each extension once",
                )
                .at(key("urn")),
            );
        }
        let res = ext.resource.unwrap_or_default();
        if resource(&res).is_none() {
            problems.push(
                bad(
                    format!("\"{res}\" is not a resource type"),
                    "\"User\" or \"Group\"",
                )
                .at(key("resource")),
            );
        }
        if ext.attributes.is_empty() {
            problems.push(
                bad(
                    "declares no attributes",
                    "add one or more [[extensions.attributes]]",
                )
                .at(key("attributes")),
            );
        }
        let mut attributes: Vec<ExtensionAttribute> = Vec::new();
        for (j, a) in ext.attributes.into_iter().enumerate() {
            let akey = |k: &str| format!("extensions[{i}].attributes[{j}].{k}");
            let name = a.name.unwrap_or_default();
            let taken = resource(&res).and_then(|k| {
                builtin
                    .resolve(k, None, &name)
                    .map(|r| r.attr.name.clone())
                    .or_else(|| {
                        out.iter()
                            .filter(|e| e.resource == res)
                            .flat_map(|e| e.attributes.iter())
                            .find(|x| x.name.eq_ignore_ascii_case(&name))
                            .map(|x| x.name.clone())
                    })
            });
            if let Err(b) = attr_name(&name) {
                problems.push(b.at(akey("name")));
            } else if let Some(existing) = taken {
                problems.push(bad(
                    format!("\"{name}\" is already an attribute of {res} (\"{existing}\")"),
                    "choose another name: unqualified names in filters and paths must stay unambiguous",
                ).at(akey("name")));
            } else if attributes
                .iter()
                .any(|x| x.name.eq_ignore_ascii_case(&name))
            {
                problems.push(
                    bad(
                        format!("\"{name}\" is declared twice (names ignore case)"),
                        "give each attribute its own name",
                    )
                    .at(akey("name")),
                );
            }
            let ty = a.ty.unwrap_or_else(|| "string".into());
            if attr_type(&ty).is_none() {
                problems.push(bad(format!("\"{ty}\" is not a supported type"), "string, boolean, integer, decimal, dateTime, reference or binary (complex is not supported)").at(akey("type")));
            }
            let m = a.mutability.unwrap_or_else(|| "readWrite".into());
            if mutability(&m).is_none() {
                problems.push(
                    bad(
                        format!("\"{m}\" is not a supported mutability"),
                        "readWrite, immutable or writeOnly",
                    )
                    .at(akey("mutability")),
                );
            }
            let r = a.returned.unwrap_or_else(|| "default".into());
            if returned(&r).is_none() {
                problems.push(
                    bad(
                        format!("\"{r}\" is not a returned value"),
                        "default, always, request or never",
                    )
                    .at(akey("returned")),
                );
            }
            attributes.push(ExtensionAttribute {
                name,
                ty,
                multi_valued: a.multi_valued.unwrap_or(false),
                case_exact: a.case_exact.unwrap_or(false),
                mutability: m,
                returned: r,
                description: a.description.unwrap_or_default(),
            });
        }
        if problems.len() == before {
            let name = ext
                .name
                .unwrap_or_else(|| urn.rsplit(':').nth(2).unwrap_or("Extension").to_string());
            out.push(ExtensionSettings {
                urn,
                resource: res,
                name,
                description: ext.description.unwrap_or_default(),
                attributes,
            });
        }
    }
    out
}

impl ExtensionSettings {
    /// The schema this declares, for the registry.
    pub fn to_schema(&self) -> Option<(ResourceKind, Schema)> {
        let kind = resource(&self.resource)?;
        let attributes = self
            .attributes
            .iter()
            .map(|a| {
                Some(Attribute::custom(
                    &a.name,
                    attr_type(&a.ty)?,
                    a.multi_valued,
                    a.case_exact,
                    false,
                    mutability(&a.mutability)?,
                    returned(&a.returned)?,
                    &a.description,
                ))
            })
            .collect::<Option<Vec<_>>>()?;
        Some((
            kind,
            Schema {
                id: self.urn.clone(),
                name: self.name.clone(),
                description: self.description.clone(),
                attributes,
            },
        ))
    }
}

/// The registry for a configuration: built-in schemas plus the declared extensions.
pub fn registry(extensions: &[ExtensionSettings]) -> Registry {
    Registry::with_extensions(
        extensions
            .iter()
            .filter_map(ExtensionSettings::to_schema)
            .collect(),
    )
}
