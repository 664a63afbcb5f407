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
