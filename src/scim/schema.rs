//! Schemas as data (RFC 7643 §7, §8.7): the same definitions drive validation, PATCH, filters,
//! projection and the `/Schemas` endpoint, so what the server enforces is what it publishes.

use serde_json::{json, Map, Value};

pub const URN_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const URN_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const URN_ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const URN_LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const URN_PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const URN_ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const URN_SERVICE_PROVIDER_CONFIG: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const URN_RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const URN_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

/// One attribute definition (RFC 7643 §7).
#[derive(Debug, Clone)]
pub struct Attribute {
    pub name: String,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub description: String,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: Vec<String>,
    pub reference_types: Vec<String>,
    pub sub_attributes: Vec<Attribute>,
}

impl Attribute {
    fn new(name: &str, ty: AttrType, description: &str) -> Self {
        Attribute {
            name: name.into(),
            ty,
            multi_valued: false,
            description: description.into(),
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: Vec::new(),
            reference_types: Vec::new(),
            sub_attributes: Vec::new(),
        }
    }
    fn string(name: &str, description: &str) -> Self {
        Self::new(name, AttrType::String, description)
    }
    fn boolean(name: &str, description: &str) -> Self {
        Self::new(name, AttrType::Boolean, description)
    }
    fn reference(name: &str, types: &[&str], description: &str) -> Self {
        let mut a = Self::new(name, AttrType::Reference, description);
        a.reference_types = types.iter().map(|s| s.to_string()).collect();
        a
    }
    fn complex(name: &str, description: &str, subs: Vec<Attribute>) -> Self {
        let mut a = Self::new(name, AttrType::Complex, description);
        a.sub_attributes = subs;
        a
    }
    fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    fn unique(mut self) -> Self {
        self.uniqueness = Uniqueness::Server;
        self
    }
    fn canonical(mut self, values: &[&str]) -> Self {
        self.canonical_values = values.iter().map(|s| s.to_string()).collect();
        self
    }

    /// A simple (non-complex) attribute of an administrator-declared extension.
    #[allow(clippy::too_many_arguments)]
    pub fn custom(
        name: &str,
        ty: AttrType,
        multi_valued: bool,
        case_exact: bool,
        required: bool,
        mutability: Mutability,
        returned: Returned,
        description: &str,
    ) -> Self {
        let mut a = Self::new(name, ty, description);
        a.multi_valued = multi_valued;
        a.case_exact = case_exact;
        a.required = required;
        a.mutability = mutability;
        a.returned = returned;
        a
    }

    /// Finds a sub-attribute by name, case-insensitively (RFC 7643 §2.1).
    pub fn sub(&self, name: &str) -> Option<&Attribute> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The RFC 7643 §7 representation served by `/Schemas`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("type".into(), json!(self.ty.as_str()));
        m.insert("multiValued".into(), json!(self.multi_valued));
        m.insert("description".into(), json!(self.description));
        m.insert("required".into(), json!(self.required));
        if self.ty != AttrType::Complex && self.ty != AttrType::Boolean {
            m.insert("caseExact".into(), json!(self.case_exact));
        }
        if !self.canonical_values.is_empty() {
            m.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        if !self.reference_types.is_empty() {
            m.insert("referenceTypes".into(), json!(self.reference_types));
        }
        m.insert(
            "mutability".into(),
            json!(match self.mutability {
                Mutability::ReadOnly => "readOnly",
                Mutability::ReadWrite => "readWrite",
                Mutability::Immutable => "immutable",
                Mutability::WriteOnly => "writeOnly",
            }),
        );
        m.insert(
            "returned".into(),
            json!(match self.returned {
                Returned::Always => "always",
                Returned::Never => "never",
                Returned::Default => "default",
                Returned::Request => "request",
            }),
        );
        m.insert(
            "uniqueness".into(),
            json!(match self.uniqueness {
                Uniqueness::None => "none",
                Uniqueness::Server => "server",
                Uniqueness::Global => "global",
            }),
        );
        if !self.sub_attributes.is_empty() {
            m.insert(
                "subAttributes".into(),
                Value::Array(self.sub_attributes.iter().map(|a| a.to_json()).collect()),
            );
        }
        Value::Object(m)
    }
}

/// A schema: a URN and its attributes.
#[derive(Debug, Clone)]
pub struct Schema {
    pub id: String,
    pub name: String,
    pub description: String,
    pub attributes: Vec<Attribute>,
}

impl Schema {
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn to_json(&self, location: &str) -> Value {
        json!({
            "schemas": [URN_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(|a| a.to_json()).collect::<Vec<_>>(),
            "meta": {"resourceType": "Schema", "location": location},
        })
    }
}

/// The two resource types scimd serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "Users",
            ResourceKind::Group => "Groups",
        }
    }
    pub fn core_urn(self) -> &'static str {
        match self {
            ResourceKind::User => URN_USER,
            ResourceKind::Group => URN_GROUP,
        }
    }
}

/// Multi-valued sub-attributes shared by emails, phoneNumbers, ims, photos, entitlements, roles…
fn multi_subs(value: Attribute, types: &[&str]) -> Vec<Attribute> {
    vec![
        value,
        Attribute::string("display", "A human-readable name, primarily used for display purposes."),
        Attribute::string("type", "A label indicating the attribute's function.").canonical(types),
        Attribute::boolean(
            "primary",
            "A Boolean value indicating the 'primary' or preferred attribute value for this attribute.",
        ),
    ]
}

fn user_schema() -> Schema {
    use Attribute as A;
    let name = A::complex(
        "name",
        "The components of the user's real name.",
        vec![
            A::string("formatted", "The full name, including all middle names, titles, and suffixes as appropriate, formatted for display."),
            A::string("familyName", "The family name of the User, or last name in most Western languages."),
            A::string("givenName", "The given name of the User, or first name in most Western languages."),
            A::string("middleName", "The middle name(s) of the User."),
            A::string("honorificPrefix", "The honorific prefix(es) of the User, or title in most Western languages."),
            A::string("honorificSuffix", "The honorific suffix(es) of the User, or suffix in most Western languages."),
        ],
    );
    let addresses = A::complex(
        "addresses",
        "A physical mailing address for this User.",
        vec![
            A::string(
                "formatted",
                "The full mailing address, formatted for display or use with a mailing label.",
            ),
            A::string("streetAddress", "The full street address component."),
            A::string("locality", "The city or locality component."),
            A::string("region", "The state or region component."),
            A::string("postalCode", "The zip code or postal code component."),
            A::string("country", "The country name component."),
            A::string("type", "A label indicating the attribute's function.")
                .canonical(&["work", "home", "other"]),
            A::boolean(
                "primary",
                "A Boolean value indicating the 'primary' or preferred address.",
            ),
        ],
    )
    .multi();
    let groups = A::complex(
        "groups",
        "A list of groups to which the user belongs, either through direct membership, through nested groups, or dynamically calculated.",
        vec![
            A::string("value", "The identifier of the User's group.").mutability(Mutability::ReadOnly),
            A::reference("$ref", &["User", "Group"], "The URI of the corresponding 'Group' resource to which the user belongs.").mutability(Mutability::ReadOnly),
            A::string("display", "A human-readable name, primarily used for display purposes.").mutability(Mutability::ReadOnly),
            A::string("type", "A label indicating the attribute's function, e.g., 'direct' or 'indirect'.").canonical(&["direct", "indirect"]).mutability(Mutability::ReadOnly),
        ],
    )
    .multi()
    .mutability(Mutability::ReadOnly);
    Schema {
        id: URN_USER.into(),
        name: "User".into(),
        description: "User Account".into(),
        attributes: vec![
            A::string("userName", "Unique identifier for the User, typically used by the user to directly authenticate to the service provider. Each User MUST include a non-empty userName value. This identifier MUST be unique across the service provider's entire set of Users.").required().unique(),
            name,
            A::string("displayName", "The name of the User, suitable for display to end-users."),
            A::string("nickName", "The casual way to address the user in real life."),
            A::reference("profileUrl", &["external"], "A fully qualified URL pointing to a page representing the User's online profile."),
            A::string("title", "The user's title, such as \"Vice President.\""),
            A::string("userType", "Used to identify the relationship between the organization and the user."),
            A::string("preferredLanguage", "Indicates the User's preferred written or spoken language."),
            A::string("locale", "Used to indicate the User's default location for purposes of localizing items such as currency, date time format, or numerical representations."),
            A::string("timezone", "The User's time zone in the 'Olson' time zone database format, e.g., 'America/Los_Angeles'."),
            A::boolean("active", "A Boolean value indicating the User's administrative status."),
            A::string("password", "The User's cleartext password. Accepted on input and never returned or stored in plaintext.").mutability(Mutability::WriteOnly).returned(Returned::Never),
            A::complex("emails", "Email addresses for the user.", multi_subs(A::string("value", "Email addresses for the user."), &["work", "home", "other"])).multi(),
            A::complex("phoneNumbers", "Phone numbers for the User.", multi_subs(A::string("value", "Phone number of the User."), &["work", "home", "mobile", "fax", "pager", "other"])).multi(),
            A::complex("ims", "Instant messaging addresses for the User.", multi_subs(A::string("value", "Instant messaging address for the User."), &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"])).multi(),
            A::complex("photos", "URLs of photos of the User.", multi_subs(A::reference("value", &["external"], "URL of a photo of the User."), &["photo", "thumbnail"])).multi(),
            addresses,
            groups,
            A::complex("entitlements", "A list of entitlements for the User that represent a thing the User has.", multi_subs(A::string("value", "The value of an entitlement."), &[])).multi(),
            A::complex("roles", "A list of roles for the User that collectively represent who the User is, e.g., 'Student', 'Faculty'.", multi_subs(A::string("value", "The value of a role."), &[])).multi(),
            A::complex("x509Certificates", "A list of certificates issued to the User.", multi_subs(A::new("value", AttrType::Binary, "The value of an X.509 certificate."), &[])).multi(),
        ],
    }
}

fn group_schema() -> Schema {
    use Attribute as A;
    Schema {
        id: URN_GROUP.into(),
        name: "Group".into(),
        description: "Group".into(),
        attributes: vec![
            A::string(
                "displayName",
                "A human-readable name for the Group. REQUIRED.",
            )
            .required(),
            A::complex(
                "members",
                "A list of members of the Group.",
                vec![
                    A::string("value", "Identifier of the member of this Group.")
                        .case_exact()
                        .mutability(Mutability::Immutable),
                    A::reference(
                        "$ref",
                        &["User", "Group"],
                        "The URI corresponding to a SCIM resource that is a member of this Group.",
                    )
                    .mutability(Mutability::Immutable),
                    A::string(
                        "type",
                        "A label indicating the type of resource, e.g., 'User' or 'Group'.",
                    )
                    .canonical(&["User", "Group"])
                    .mutability(Mutability::Immutable),
                    // Returned on request only: scim2-tester and others compare members with what
                    // they sent, while Netskope's scripts ask `attributes=members` and read it.
                    A::string("display", "A human-readable name for the member: the User's displayName or userName, the Group's displayName. Returned when attributes names members or members.display.")
                        .mutability(Mutability::ReadOnly)
                        .returned(Returned::Request),
                ],
            )
            .multi(),
        ],
    }
}

fn enterprise_user_schema() -> Schema {
    use Attribute as A;
    Schema {
        id: URN_ENTERPRISE_USER.into(),
        name: "EnterpriseUser".into(),
        description: "Enterprise User".into(),
        attributes: vec![
            A::string("employeeNumber", "Numeric or alphanumeric identifier assigned to a person, typically based on order of hire or association with an organization."),
            A::string("costCenter", "Identifies the name of a cost center."),
            A::string("organization", "Identifies the name of an organization."),
            A::string("division", "Identifies the name of a division."),
            A::string("department", "Identifies the name of a department."),
            A::complex(
                "manager",
                "The User's manager. A complex type that optionally allows service providers to represent organizational hierarchy by referencing the 'id' attribute of another User.",
                vec![
                    A::string("value", "The id of the SCIM resource representing the User's manager."),
                    A::reference("$ref", &["User"], "The URI of the SCIM resource representing the User's manager."),
                    A::string("displayName", "The displayName of the User's manager.").mutability(Mutability::ReadOnly),
                ],
            ),
        ],
    }
}

/// Attributes every resource carries (RFC 7643 §3.1); not part of any published schema.
fn common_attributes() -> Vec<Attribute> {
    use Attribute as A;
    vec![
        A::string("id", "A unique identifier for a SCIM resource as defined by the service provider.")
            .case_exact()
            .mutability(Mutability::ReadOnly)
            .returned(Returned::Always)
            .unique(),
        A::string("externalId", "An identifier for the resource as defined by the provisioning client.").case_exact(),
        A::complex(
            "meta",
            "Resource metadata.",
            vec![
                A::string("resourceType", "The name of the resource type of the resource.").case_exact().mutability(Mutability::ReadOnly),
                A::new("created", AttrType::DateTime, "The DateTime that the resource was added to the service provider.").mutability(Mutability::ReadOnly),
                A::new("lastModified", AttrType::DateTime, "The most recent DateTime that the details of this resource were updated at the service provider.").mutability(Mutability::ReadOnly),
                A::reference("location", &["uri"], "The URI of the resource being returned.").case_exact().mutability(Mutability::ReadOnly),
                A::string("version", "The version of the resource being returned.").case_exact().mutability(Mutability::ReadOnly),
            ],
        )
        .mutability(Mutability::ReadOnly),
    ]
}

/// SCIM 1.x-era and draft URNs that OneLogin's JSON templates still send
/// (`urn:scim:schemas:core:2.0`, `urn:scim:schemas:extension:enterprise:2.0`, INTEROP Part B §3.1),
/// mapped to the RFC 7643 URNs.
fn legacy_alias(kind: ResourceKind, urn: &str) -> Option<&'static str> {
    // Called for every attribute a projection or filter names: compared in place rather than
    // lowercased into a new String.
    let is = |alias: &str| urn.eq_ignore_ascii_case(alias);
    if is("urn:scim:schemas:core:2.0") || is("urn:scim:schemas:core:1.0") {
        Some(kind.core_urn())
    } else if kind == ResourceKind::User
        && (is("urn:scim:schemas:extension:enterprise:2.0")
            || is("urn:scim:schemas:extension:enterprise:1.0"))
    {
        Some(URN_ENTERPRISE_USER)
    } else {
        None
    }
}

/// Where an attribute name resolved to.
#[derive(Debug, Clone, Copy)]
pub struct Resolved<'a> {
    /// `None` for core and common attributes, `Some(urn)` for an extension's attribute.
    pub extension: Option<&'a str>,
    pub attr: &'a Attribute,
}

/// All schemas and the resource types that use them.
#[derive(Debug, Clone)]
pub struct Registry {
    user: Schema,
    group: Schema,
    /// Extension schemas and the resource type each extends: the enterprise User extension,
    /// then those declared in the configuration.
    extensions: Vec<(ResourceKind, Schema)>,
    common: Vec<Attribute>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    pub fn new() -> Self {
        Registry {
            user: user_schema(),
            group: group_schema(),
            extensions: vec![(ResourceKind::User, enterprise_user_schema())],
            common: common_attributes(),
        }
    }

    /// The built-in schemas plus extension schemas declared by the administrator. The caller
    /// (configuration validation) has already refused URNs that collide with a built-in one.
    pub fn with_extensions(extra: Vec<(ResourceKind, Schema)>) -> Self {
        let mut reg = Self::new();
        reg.extensions.extend(extra);
        reg
    }

    /// Whether `urn` is one of the built-in schemas (or a legacy alias of one).
    pub fn is_builtin(&self, urn: &str) -> bool {
        [ResourceKind::User, ResourceKind::Group]
            .into_iter()
            .any(|k| self.is_core(k, urn) || legacy_alias(k, urn).is_some())
            || urn.eq_ignore_ascii_case(URN_ENTERPRISE_USER)
    }

    pub fn schemas(&self) -> Vec<&Schema> {
        let mut all = vec![&self.user, &self.group];
        all.extend(self.extensions.iter().map(|(_, s)| s));
        all
    }

    pub fn schema(&self, urn: &str) -> Option<&Schema> {
        self.schemas()
            .into_iter()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    pub fn core(&self, kind: ResourceKind) -> &Schema {
        match kind {
            ResourceKind::User => &self.user,
            ResourceKind::Group => &self.group,
        }
    }

    /// Extension schemas a resource type allows, with whether each is required.
    pub fn extensions(&self, kind: ResourceKind) -> Vec<(&Schema, bool)> {
        self.extensions_of(kind).map(|s| (s, false)).collect()
    }

    /// The extension URNs of `kind` (for path parsing: they decide where a URN prefix ends).
    pub fn extension_urns(&self, kind: ResourceKind) -> Vec<&str> {
        self.extensions_of(kind).map(|s| s.id.as_str()).collect()
    }

    pub fn extension(&self, kind: ResourceKind, urn: &str) -> Option<&Schema> {
        let urn = legacy_alias(kind, urn).unwrap_or(urn);
        self.extensions_of(kind)
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// The extension schemas of `kind`, without collecting them: resolution runs for every
    /// attribute of every resource a request renders.
    fn extensions_of(&self, kind: ResourceKind) -> impl Iterator<Item = &Schema> {
        self.extensions
            .iter()
            .filter(move |(k, _)| *k == kind)
            .map(|(_, s)| s)
    }

    /// Whether `urn` names the core schema of `kind` (or a legacy alias of it).
    pub fn is_core(&self, kind: ResourceKind, urn: &str) -> bool {
        let urn = legacy_alias(kind, urn).unwrap_or(urn);
        urn.eq_ignore_ascii_case(self.core(kind).id.as_str())
    }

    /// Resolves a top-level attribute name, optionally URN-qualified, for `kind`.
    pub fn resolve(
        &self,
        kind: ResourceKind,
        urn: Option<&str>,
        name: &str,
    ) -> Option<Resolved<'_>> {
        match urn {
            None => self
                .common
                .iter()
                .chain(self.core(kind).attributes.iter())
                .find(|a| a.name.eq_ignore_ascii_case(name))
                .map(|attr| Resolved {
                    extension: None,
                    attr,
                })
                // Entra's legacy traffic names extension attributes without their URN
                // (`"path":"manager"`, `manager eq "id"`, `"department": null` in a POST).
                // Names are unique across our schemas, so the short form is unambiguous.
                .or_else(|| {
                    self.extensions_of(kind).find_map(|ext| {
                        ext.attribute(name).map(|attr| Resolved {
                            extension: Some(ext.id.as_str()),
                            attr,
                        })
                    })
                }),
            Some(u) if self.is_core(kind, u) => self.resolve(kind, None, name),
            Some(u) => {
                let ext = self.extension(kind, u)?;
                ext.attribute(name).map(|attr| Resolved {
                    extension: Some(ext.id.as_str()),
                    attr,
                })
            }
        }
    }

    /// Resolves a whole attribute path text (`[urn:]name[.sub]`, sub ignored) for `kind`.
    pub fn resolve_path(&self, kind: ResourceKind, text: &str) -> Option<Resolved<'_>> {
        let p = super::path::AttrPath::parse(text).ok()?;
        self.resolve(kind, p.urn.as_deref(), &p.name)
    }

    /// Core and common attributes of `kind` (not extensions).
    pub fn top_level(&self, kind: ResourceKind) -> impl Iterator<Item = &Attribute> {
        self.common.iter().chain(self.core(kind).attributes.iter())
    }

    pub fn resource_type_json(&self, kind: ResourceKind, location: &str) -> Value {
        let exts: Vec<Value> = self
            .extensions(kind)
            .into_iter()
            .map(|(s, required)| json!({"schema": s.id, "required": required}))
            .collect();
        let mut v = json!({
            "schemas": [URN_RESOURCE_TYPE],
            "id": kind.name(),
            "name": kind.name(),
            "endpoint": format!("/{}", kind.endpoint()),
            "description": match kind { ResourceKind::User => "User Account", ResourceKind::Group => "Group" },
            "schema": kind.core_urn(),
            "meta": {"resourceType": "ResourceType", "location": location},
        });
        if !exts.is_empty() {
            if let Some(o) = v.as_object_mut() {
                o.insert("schemaExtensions".into(), Value::Array(exts));
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_case_insensitively_including_extensions() {
        let r = Registry::new();
        let a = r.resolve(ResourceKind::User, None, "USERNAME").unwrap();
        assert_eq!(a.attr.name, "userName");
        assert!(a.extension.is_none());
        let m = r
            .resolve(
                ResourceKind::User,
                Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"),
                "Manager",
            )
            .unwrap();
        assert_eq!(m.attr.name, "manager");
        assert_eq!(m.extension, Some(URN_ENTERPRISE_USER));
        assert!(r.resolve(ResourceKind::Group, None, "userName").is_none());
        assert!(r.resolve(ResourceKind::Group, None, "externalId").is_some());
    }

    #[test]
    fn legacy_onelogin_urns_resolve_to_the_rfc_schemas() {
        let r = Registry::new();
        let a = r
            .resolve(
                ResourceKind::User,
                Some("urn:scim:schemas:core:2.0"),
                "userName",
            )
            .unwrap();
        assert_eq!(a.attr.name, "userName");
        let d = r
            .resolve(
                ResourceKind::User,
                Some("urn:scim:schemas:extension:enterprise:2.0"),
                "department",
            )
            .unwrap();
        assert_eq!(d.extension, Some(URN_ENTERPRISE_USER));
        assert!(r.is_core(ResourceKind::Group, "urn:scim:schemas:core:2.0"));
        assert!(r
            .extension(
                ResourceKind::Group,
                "urn:scim:schemas:extension:enterprise:2.0"
            )
            .is_none());
    }

    #[test]
    fn user_schema_json_carries_rfc_description_and_camel_case_values() {
        let r = Registry::new();
        let j = r.core(ResourceKind::User).to_json("/Schemas/x");
        assert_eq!(j["description"], "User Account");
        let user_name = &j["attributes"][0];
        assert_eq!(user_name["mutability"], "readWrite");
        assert_eq!(user_name["uniqueness"], "server");
        assert_eq!(user_name["required"], true);
    }
}
