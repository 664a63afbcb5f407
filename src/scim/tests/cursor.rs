use super::*;
use crate::scim::schema::Registry;
use serde_json::json;

fn binding() -> Binding {
    Binding::of(
        ResourceKind::User,
        Some("userName sw \"a\""),
        Some("name.familyName"),
        Some("descending"),
    )
}

fn sorted_cursor() -> Cursor {
    Cursor::after(
        Position {
            key: Some(SortKey::Str("o'hara ü".into())),
            id: "0190-abc".into(),
        },
        &binding(),
    )
}

fn refusal(token: &str, b: &Binding) -> ScimError {
    Cursor::decode(token, b).unwrap_err()
}

fn assert_invalid_cursor(e: &ScimError, mentions: &str) {
    assert_eq!(e.status, 400, "{e}");
    assert_eq!(e.scim_type, Some(ScimType::InvalidCursor), "{e}");
    assert!(e.detail.contains(mentions), "{}", e.detail);
}

#[test]
fn cursors_round_trip() {
    let c = sorted_cursor();
    let token = c.encode();
    assert_eq!(Cursor::decode(&token, &binding()).unwrap(), c);

    let unsorted = Binding::of(ResourceKind::Group, None, None, None);
    let c = Cursor::before(
        Position {
            key: None,
            id: "g-1".into(),
        },
        &unsorted,
    );
    let back = Cursor::decode(&c.encode(), &unsorted).unwrap();
    assert_eq!(back.direction, Direction::Before);
    assert_eq!(back.position.id, "g-1");
    assert_eq!(back.position.key, None);

    for key in [
        SortKey::Missing,
        SortKey::Bool(false),
        SortKey::Int(i64::MIN),
        SortKey::Decimal(-0.5),
        SortKey::Time(-1, 999_999_999),
    ] {
        let c = Cursor::after(
            Position {
                key: Some(key),
                id: "x".into(),
            },
            &binding(),
        );
        assert_eq!(Cursor::decode(&c.encode(), &binding()).unwrap(), c);
    }
}

#[test]
fn tokens_use_only_unreserved_characters() {
    // RFC 9865 §2: ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 §2.3).
    let token = sorted_cursor().encode();
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c)),
        "{token}"
    );
    assert!(token.len() < 200, "compact: {} chars", token.len());
}

#[test]
fn a_cursor_replayed_with_another_query_is_refused() {
    let token = sorted_cursor().encode();
    let others = [
        Binding::of(
            ResourceKind::Group,
            Some("userName sw \"a\""),
            Some("name.familyName"),
            Some("descending"),
        ),
        Binding::of(
            ResourceKind::User,
            Some("userName sw \"b\""),
            Some("name.familyName"),
            Some("descending"),
        ),
        Binding::of(
            ResourceKind::User,
            None,
            Some("name.familyName"),
            Some("descending"),
        ),
        Binding::of(
            ResourceKind::User,
            Some("userName sw \"a\""),
            Some("name.givenName"),
            Some("descending"),
        ),
        Binding::of(
            ResourceKind::User,
            Some("userName sw \"a\""),
            Some("name.familyName"),
            None,
        ),
        Binding::of_root(
            Some("userName sw \"a\""),
            Some("name.familyName"),
            Some("descending"),
        ),
    ];
    for other in &others {
        assert_invalid_cursor(&refusal(&token, other), "different query");
    }
}

#[test]
fn equivalent_spellings_of_a_query_bind_alike() {
    let f = Some("title pr");
    let b = Binding::of(ResourceKind::User, f, Some("name.familyName"), None);
    for same in [
        Binding::of(ResourceKind::User, f, Some("NAME.familyname"), None),
        Binding::of(ResourceKind::User, f, Some("name.familyName"), Some("")),
        Binding::of(
            ResourceKind::User,
            f,
            Some("name.familyName"),
            Some("Ascending"),
        ),
    ] {
        assert_eq!(same, b);
    }
    assert_eq!(
        Binding::of(ResourceKind::User, f, None, Some("descending")),
        Binding::of(ResourceKind::User, f, None, None),
        "sortOrder without sortBy is ignored, so it binds nothing"
    );
    assert_ne!(
        Binding::of(ResourceKind::User, Some("title eq \"A\""), None, None),
        Binding::of(ResourceKind::User, Some("title eq \"a\""), None, None),
        "filter values may be case-exact"
    );
    assert_ne!(
        Binding::of(ResourceKind::User, Some(""), None, None),
        Binding::of(ResourceKind::User, None, None, None),
    );
}

#[test]
fn garbage_is_refused_with_a_detail_a_person_understands() {
    let b = binding();
    assert_invalid_cursor(&refusal("", &b), "empty");
    assert_invalid_cursor(&refusal("not a cursor!", &b), "base64url");
    assert_invalid_cursor(&refusal("%%%", &b), "base64url");
    assert_invalid_cursor(&refusal("abc", &b), "damaged");
    assert_invalid_cursor(&refusal("AAAAAAAAAAAAAAAAAAAAAAAA", &b), "damaged");
    let long = "A".repeat(MAX_CURSOR_LEN + 1);
    assert_invalid_cursor(&refusal(&long, &b), "longer than");
    // Valid base64url of JSON, but not a token (no checksum).
    let fake = URL_SAFE_NO_PAD.encode(br#"{"v":1,"d":"a","q":"x","i":"1"}"#);
    assert_invalid_cursor(&refusal(&fake, &b), "damaged");
}

#[test]
fn tampered_tokens_are_refused() {
    let token = sorted_cursor().encode();
    let b = binding();
    // Flip each character in turn: every one is caught.
    for (i, c) in token.char_indices() {
        let swapped = if c == 'A' { 'B' } else { 'A' };
        let mut t = token.clone();
        t.replace_range(i..i + 1, &swapped.to_string());
        let e = refusal(&t, &b);
        assert_eq!(e.scim_type, Some(ScimType::InvalidCursor), "position {i}");
    }
    // Truncated.
    let e = refusal(token.get(..token.len() - 3).unwrap(), &b);
    assert_eq!(e.scim_type, Some(ScimType::InvalidCursor));
    // An edited payload with a recomputed checksum but a key where the query has no sortBy.
    let unsorted = Binding::of(ResourceKind::User, None, None, None);
    let edited = Cursor::after(
        Position {
            key: Some(SortKey::Int(1)),
            id: "x".into(),
        },
        &unsorted,
    )
    .encode();
    assert_invalid_cursor(&refusal(&edited, &unsorted), "damaged");
}

#[test]
fn tokens_from_another_format_version_are_refused() {
    let b = binding();
    let payload = serde_json::to_vec(&json!({
        "v": 2, "d": "a", "q": URL_SAFE_NO_PAD.encode(b.digest), "i": "x", "k": {"s": "a"}
    }))
    .unwrap();
    let mut bytes = payload.clone();
    bytes.extend_from_slice(&checksum(&payload));
    let token = URL_SAFE_NO_PAD.encode(bytes);
    assert_invalid_cursor(&refusal(&token, &b), "another version");
}

#[test]
fn positions_compare_in_query_order() {
    let reg = Registry::new();
    let spec = SortSpec::parse(&reg, ResourceKind::User, Some("title"), Some("descending"))
        .unwrap()
        .unwrap();
    let p = |k: SortKey, id: &str| Position {
        key: Some(k),
        id: id.into(),
    };
    assert_eq!(
        Position::compare(
            Some(&spec),
            &p(SortKey::Str("b".into()), "1"),
            &p(SortKey::Str("a".into()), "2")
        ),
        Ordering::Less
    );
    assert_eq!(
        Position::compare(
            Some(&spec),
            &p(SortKey::Missing, "9"),
            &p(SortKey::Str("a".into()), "1")
        ),
        Ordering::Less,
        "missing first when descending"
    );
    let none = |id: &str| Position {
        key: None,
        id: id.into(),
    };
    assert_eq!(
        Position::compare(None, &none("a"), &none("b")),
        Ordering::Less
    );
}
