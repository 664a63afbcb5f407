use super::*;
use serde_json::json;

fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "0190-a",
        "userName": "Alice@Example.com",
        "externalId": "ext-1",
        "active": false,
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "emails": [
            {"value": "alice@work.example", "type": "work", "primary": true},
            {"value": "alice@home.example", "type": "home"}
        ],
        "meta": {"resourceType": "User", "created": "2026-01-01T00:00:00Z", "lastModified": "2026-06-01T10:00:00Z"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "department": "Tour Operations",
            "manager": {"value": "boss-id"}
        }
    })
}

fn eval(f: &str) -> bool {
    let reg = Registry::new();
    let parsed = parse(f).unwrap_or_else(|e| panic!("{f}: {e}"));
    parsed
        .check(&reg, ResourceKind::User)
        .unwrap_or_else(|e| panic!("{f}: {e}"));
    parsed.matches(&user(), &reg, ResourceKind::User)
}

#[test]
fn evaluates_the_filters_clients_send() {
    let cases: &[(&str, bool)] = &[
        (r#"userName eq "alice@example.com""#, true),
        (r#"username Eq "ALICE@EXAMPLE.COM""#, true),
        (r#"userName eq "bob""#, false),
        (r#"externalId eq "ext-1""#, true),
        (r#"externalId eq "EXT-1""#, false),
        ("externalId eq ext-1", true),
        (
            r#"emails[type eq "work"].value eq "alice@work.example""#,
            true,
        ),
        (
            r#"emails[type eq "home"].value eq "alice@work.example""#,
            false,
        ),
        (r#"emails[type eq "work" and value co "@work"]"#, true),
        (r#"emails eq "alice@home.example""#, true),
        (r#"emails.value eq "alice@home.example""#, true),
        (r#"name.familyName sw "lid""#, true),
        ("active eq false", true),
        (r#"active eq "False""#, true),
        ("active eq true", false),
        ("not (active eq true)", true),
        (r#"userName eq "x" or active eq false"#, true),
        (
            r#"userName eq "x" or userName eq "y" and active eq false"#,
            false,
        ),
        (
            r#"(userName eq "x" or userName sw "alice") and active eq false"#,
            true,
        ),
        ("title pr", false),
        ("name pr", true),
        (r#"meta.lastModified gt "2026-05-01T00:00:00Z""#, true),
        (r#"meta.lastModified gt "2026-07-01T00:00:00+02:00""#, false),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "tour operations""#,
            true,
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "boss-id""#,
            true,
        ),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "boss-id""#,
            true,
        ),
        (r#"id eq "0190-a" and manager eq "boss-id""#, true),
        (r#"title ne "x""#, true),
        ("title eq null", true),
    ];
    for (f, want) in cases {
        assert_eq!(eval(f), *want, "{f}");
    }
}

#[test]
fn errors_point_at_the_problem() {
    let cases: &[(&str, &str)] = &[
        (r#"userName eq "x"#, "position 13"),
        ("userName zz \"x\"", "\"zz\" is not an operator"),
        (r#"userName eq "x" and"#, "ends where an expression"),
        (r#"(userName eq "x""#, "expected ')'"),
        (r#"emails[type eq "work""#, "expected ']'"),
        ("", "empty"),
        (r#"userName eq "x" userName"#, "position 17"),
    ];
    for (f, want) in cases {
        let e = parse(f).unwrap_err();
        assert_eq!(
            e.scim_type,
            Some(super::super::error::ScimType::InvalidFilter)
        );
        assert!(e.detail.contains(want), "{f}: {}", e.detail);
    }
}

#[test]
fn check_refuses_unknown_attributes_and_mistyped_operators() {
    let reg = Registry::new();
    for f in [
        r#"nosuch eq "x""#,
        r#"name.nosuch eq "x""#,
        r#"active gt true"#,
        r#"active eq "maybe""#,
        r#"meta.created gt "yesterday""#,
        r#"emails[nosuch eq "x"]"#,
        r#"name eq "x""#,
    ] {
        let parsed = parse(f).unwrap();
        assert!(parsed.check(&reg, ResourceKind::User).is_err(), "{f}");
    }
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let f = format!("{}userName eq \"x\"{}", "(".repeat(5000), ")".repeat(5000));
    assert!(parse(&f).is_err());
    let g = "not (".repeat(2000) + "active eq true" + &")".repeat(2000);
    assert!(parse(&g).is_err());
}

const EXT: &str = "urn:example:params:scim:schemas:extension:test:2.0:User";

/// The built-in schemas plus an extension with one attribute of each type the core lacks.
fn typed_registry() -> Registry {
    use super::super::schema::{AttrType, Mutability, Returned, Schema};
    let attr = |name: &str, ty: AttrType, multi: bool| {
        Attribute::custom(
            name,
            ty,
            multi,
            false,
            false,
            Mutability::ReadWrite,
            Returned::Default,
            "",
        )
    };
    Registry::with_extensions(vec![(
        ResourceKind::User,
        Schema {
            id: EXT.into(),
            name: "Test".into(),
            description: String::new(),
            attributes: vec![
                attr("age", AttrType::Integer, false),
                attr("serial", AttrType::Integer, false),
                attr("score", AttrType::Decimal, false),
                attr("blob", AttrType::Binary, false),
                attr("since", AttrType::DateTime, false),
                attr("tags", AttrType::String, true),
                attr("nothing", AttrType::Integer, true),
            ],
        },
    )])
}

fn typed_user() -> Value {
    let mut u = user();
    if let Value::Object(o) = &mut u {
        o.insert("profileUrl".into(), json!("https://example.com/Alice"));
        o.insert("nickName".into(), json!(""));
        o.insert("x509Certificates".into(), json!([{"value": "TUlJQg=="}]));
        o.insert(
            EXT.into(),
            json!({
                "age": 42,
                "serial": 9_007_199_254_740_993_u64,
                "score": 3.25,
                "blob": "QUJDZA==",
                "since": "2026-06-01T11:00:00.250+01:00",
                "tags": [],
            }),
        );
    }
    u["meta"]["location"] = json!("https://example.com/Users/0190-a");
    u
}

#[test]
fn compares_by_the_attribute_type() {
    let reg = typed_registry();
    let cases: &[(&str, bool)] = &[
        // Binary: always case-exact (RFC 7644 §3.4.2.2), though the schema leaves caseExact false.
        (r#"x509Certificates.value eq "TUlJQg==""#, true),
        (r#"x509Certificates.value eq "tuljqg==""#, false),
        (r#"x509Certificates[value sw "TUl"]"#, true),
        (r#"x509Certificates[value sw "tul"]"#, false),
        (r#"blob eq "QUJDZA==""#, true),
        (r#"blob eq "qujdza==""#, false),
        (r#"blob ne "qujdza==""#, true),
        (r#"blob co "DZ""#, true),
        // Reference: the schema's caseExact (profileUrl no, meta.location yes).
        (r#"profileUrl eq "HTTPS://EXAMPLE.COM/alice""#, true),
        (
            r#"meta.location eq "https://example.com/Users/0190-a""#,
            true,
        ),
        (
            r#"meta.location eq "HTTPS://example.com/Users/0190-a""#,
            false,
        ),
        // Integer and decimal compare by value, across the two.
        ("age eq 42", true),
        ("age eq 42.0", true),
        ("age gt 41.5", true),
        ("age lt 42.5", true),
        ("age ge 42.000001", false),
        ("age ne 42", false),
        ("score ge 3", true),
        ("score lt 3", false),
        ("score gt 3.2", true),
        ("score le 3.25", true),
        (&format!("{EXT}:score eq 3.250"), true),
        // Above 2^53 an f64 cannot tell these apart; the comparison must.
        ("serial eq 9007199254740992", false),
        ("serial gt 9007199254740992", true),
        ("serial eq 9007199254740993", true),
        ("serial lt 9007199254740993.5", true),
        // dateTime: chronological, whatever the offset or fractional seconds.
        (r#"meta.lastModified eq "2026-06-01T12:00:00+02:00""#, true),
        (r#"meta.lastModified eq "2026-06-01T10:00:00.000Z""#, true),
        (r#"meta.lastModified gt "2026-06-01T09:59:59.999Z""#, true),
        (r#"meta.lastModified lt "2026-06-01T10:00:00.001Z""#, true),
        (
            r#"meta.lastModified ge "2026-06-01T05:00:00.001-05:00""#,
            false,
        ),
        (r#"since eq "2026-06-01T10:00:00.25Z""#, true),
        (r#"since gt "2026-06-01T10:00:00.2Z""#, true),
        (r#"since le "2026-06-01T12:00:00.249+02:00""#, false),
        (r#"meta.lastModified sw "2026-06""#, true),
        // pr on every type; empty string and empty array are not present.
        ("age pr", true),
        ("score pr", true),
        ("blob pr", true),
        ("since pr", true),
        ("active pr", true),
        ("profileUrl pr", true),
        ("x509Certificates pr", true),
        ("emails pr", true),
        ("name pr", true),
        ("meta.lastModified pr", true),
        ("nickName pr", false),
        ("tags pr", false),
        ("nothing pr", false),
        ("nothing eq null", true),
        ("age eq null", false),
        ("age ne null", true),
    ];
    for (f, want) in cases {
        let parsed =
            parse_checked(f, &reg, ResourceKind::User).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(
            parsed.matches(&typed_user(), &reg, ResourceKind::User),
            *want,
            "{f}"
        );
    }
}

#[test]
fn refuses_operators_the_type_does_not_have() {
    let reg = typed_registry();
    // Each with the position (in characters) of the part refused.
    let cases: &[(&str, &str)] = &[
        (r#"x509Certificates.value gt "a""#, "position 24"),
        (r#"blob lt "x""#, "position 6"),
        (r#"blob ge "x""#, "binary"),
        ("active ge true", "position 8"),
        ("active co true", "boolean"),
        ("age co 4", "position 5"),
        ("score sw 3", "a number"),
        ("score ew 3", "position 7"),
        (r#"age eq "42""#, "position 8"),
        ("active eq 1", "position 11"),
        ("age gt null", "only eq and ne"),
        (r#"since gt "tomorrow""#, "position 10"),
        ("meta.created gt 5", "quoted timestamp"),
    ];
    for (f, want) in cases {
        let e = parse_checked(f, &reg, ResourceKind::User).unwrap_err();
        assert_eq!(e.status, 400, "{f}");
        assert_eq!(
            e.scim_type,
            Some(super::super::error::ScimType::InvalidFilter),
            "{f}"
        );
        assert!(e.detail.contains(want), "{f}: {}", e.detail);
        // The position-less check refuses the same filters.
        assert!(
            parse(f).unwrap().check(&reg, ResourceKind::User).is_err(),
            "{f}"
        );
    }
}

#[test]
fn check_errors_point_at_the_position() {
    let reg = typed_registry();
    let cases: &[(&str, &str)] = &[
        (r#"userName eq "x" and nosuch eq "y""#, "position 21"),
        (r#"name.nosuch eq "x""#, "position 1"),
        (r#"name eq "x""#, "position 1"),
        ("password pr", "position 1"),
        (r#"meta.created gt "yesterday""#, "position 17"),
        (r#"emails[type eq "work" and nosuch eq "x"]"#, "position 27"),
        (r#"emails[type eq "work"].nosuch eq "x""#, "position 24"),
        (r#"emails[type eq "work"].primary gt true"#, "position 32"),
        (r#"userName[value eq "x"]"#, "position 1"),
        (r#"title eq "x" and age co 4"#, "position 22"),
        (r#"not (title pr) or (title pr and foo pr)"#, "position 33"),
        // Positions count characters, not bytes.
        (r#"displayName eq "é" and nosuch pr"#, "position 24"),
    ];
    for (f, want) in cases {
        let e = parse_checked(f, &reg, ResourceKind::User).unwrap_err();
        assert_eq!(
            e.scim_type,
            Some(super::super::error::ScimType::InvalidFilter),
            "{f}"
        );
        assert!(e.detail.contains(want), "{f}: {}", e.detail);
    }
    let ok = r#"emails[type eq "work"].value co "@" and age gt 1"#;
    assert_eq!(
        parse_checked(ok, &reg, ResourceKind::User).unwrap(),
        parse(ok).unwrap()
    );
}

#[test]
fn lexer_errors_point_at_the_character() {
    let cases: &[(&str, &str)] = &[
        (r#"userName eq "a\qb""#, "position 16"),
        ("userName eq \"a\u{1}b\"", "position 15"),
        (r#"displayName eq "é\x""#, "position 19"),
    ];
    for (f, want) in cases {
        let e = parse(f).unwrap_err();
        assert!(e.detail.contains(want), "{f}: {}", e.detail);
    }
    let long = "a".repeat(MAX_FILTER_LEN + 1);
    let e = parse(&long).unwrap_err();
    assert!(e.detail.contains("position 8193"), "{}", e.detail);
    assert!(e.detail.len() < 200);
}

#[test]
fn prints_canonical_syntax() {
    let cases: &[(&str, &str)] = &[
        (
            r#"userName Eq "x" OR (active eq true and NOT (title pr))"#,
            r#"userName eq "x" or active eq true and not (title pr)"#,
        ),
        ("a pr and (b pr or c pr)", "a pr and (b pr or c pr)"),
        ("(a pr and b pr) and c pr", "a pr and b pr and c pr"),
        ("a pr and (b pr and c pr)", "a pr and (b pr and c pr)"),
        ("a pr or (b pr or c pr)", "a pr or (b pr or c pr)"),
        ("(a pr or b pr) or c pr", "a pr or b pr or c pr"),
        ("(a pr or b pr) and c pr", "(a pr or b pr) and c pr"),
        (
            r#"emails[type eq "work"].value eq "x""#,
            r#"emails[type eq "work" and value eq "x"]"#,
        ),
        (
            r#"displayName eq "a\"b\\c\u0001""#,
            r#"displayName eq "a\"b\\c\u0001""#,
        ),
        ("externalId eq ext-1", r#"externalId eq "ext-1""#),
        (
            "age gt -1.5e3 and x eq null",
            "age gt -1500.0 and x eq null",
        ),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName pr",
            "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName pr",
        ),
    ];
    for (input, want) in cases {
        let f = parse(input).unwrap();
        assert_eq!(f.to_string(), *want, "{input}");
        assert_eq!(parse(want).unwrap(), f, "{want}");
    }
}

#[test]
fn an_empty_node_is_not_present() {
    let reg = Registry::new();
    let doc = json!({
        "userName": "u",
        "name": {"familyName": ""},
        "emails": [{}, {"value": "", "primary": null}],
        "phoneNumbers": [{"type": "work"}],
        "x509Certificates": [{"value": "TUlJQg=="}],
    });
    let cases: &[(&str, bool)] = &[
        ("name pr", false),
        ("emails pr", false),
        ("emails.value pr", false),
        ("emails[value pr]", false),
        ("emails eq null", true),
        ("phoneNumbers pr", true),
        ("phoneNumbers.value pr", false),
        ("x509Certificates pr", true),
    ];
    for (f, want) in cases {
        let parsed = parse_checked(f, &reg, ResourceKind::User).unwrap();
        assert_eq!(parsed.matches(&doc, &reg, ResourceKind::User), *want, "{f}");
    }
}

#[test]
fn a_long_flat_chain_is_no_stack_overflow() {
    // `and` chains do not count as nesting, so the length limit is what bounds them.
    let terms = MAX_FILTER_LEN / "id pr and ".len();
    let text = vec!["id pr"; terms].join(" and ");
    let reg = Registry::new();
    let f = parse_checked(&text, &reg, ResourceKind::User).unwrap();
    assert!(f.matches(&user(), &reg, ResourceKind::User));
    assert_eq!(f.to_string(), text);
    let text = vec!["id pr"; terms].join(" or ");
    let f = parse(&text).unwrap();
    assert_eq!(f.to_string(), text);
}
