//! Property tests: the evaluator agrees with the reference model on generated filters and
//! resources over the model schema.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::super::path::AttrPath;
use super::super::schema::ResourceKind;
use super::model::{model, model_registry, nanos, Ctx, Ty};
use super::syntax_tests::{arb_tree, EXT, OPS};
use super::{parse, CompareOp, Filter, Literal};

// ---------------------------------------------------------------------------------------------
// Generators over the model schema: valid filters and resources drawn from small pools, so
// that matches, near misses and absences all happen often.

const STRS: [&str; 10] = [
    "alice",
    "Alice",
    "ALICE@x.com",
    "bob",
    "",
    "al",
    "ice",
    "Ünïcode",
    "ünÏCODE",
    "x.com",
];
const BLOBS: [&str; 4] = ["TUlJQg==", "tuljqg==", "QUJD", "TUl"];
const DATES: [&str; 6] = [
    "2026-06-01T10:00:00Z",
    "2026-06-01T12:00:00+02:00",
    "2026-06-01T10:00:00.5Z",
    "2026-06-01T10:00:00.500000001Z",
    "2026-05-31T23:59:59.999-01:00",
    "2025-01-01T00:00:00Z",
];
const URLS: [&str; 3] = [
    "https://example.com/Alice",
    "HTTPS://EXAMPLE.COM/alice",
    "https://example.org/",
];

fn number(i: usize) -> Value {
    match i % 9 {
        0 => json!(-1),
        1 => json!(0),
        2 => json!(3),
        3 => json!(42),
        4 => json!(9_007_199_254_740_993_i64),
        5 => json!(3.25),
        6 => json!(-0.5),
        7 => json!(42.0),
        _ => json!(9_007_199_254_740_992_i64),
    }
}

fn pick<T: Clone + std::fmt::Debug + 'static>(pool: &'static [T]) -> impl Strategy<Value = T> {
    prop::sample::select(pool)
}

fn opt<S: Strategy>(s: S) -> impl Strategy<Value = Option<S::Value>> {
    prop::option::weighted(0.7, s)
}

fn arb_str() -> impl Strategy<Value = Value> {
    pick(&STRS).prop_map(|s| json!(s))
}

fn arb_resource() -> impl Strategy<Value = Value> {
    let email = (
        opt(arb_str()),
        opt(pick(&["work", "home", "Work"])),
        opt(any::<bool>()),
    )
        .prop_map(|(v, t, p)| {
            object(&[
                ("value", v),
                ("type", t.map(|t| json!(t))),
                ("primary", p.map(Value::Bool)),
            ])
        });
    let cert = opt(pick(&BLOBS)).prop_map(|b| object(&[("value", b.map(|b| json!(b)))]));
    let core = (
        opt(arb_str()),
        opt(arb_str()),
        opt(arb_str()),
        opt(any::<bool>()),
        opt(pick(&URLS)),
        opt((opt(arb_str()), opt(arb_str()))),
        opt(prop::collection::vec(email, 0..3)),
        opt(pick(&DATES)),
        opt(prop::collection::vec(cert, 0..2)),
    );
    let ext = opt((
        opt(0..9usize),
        opt(0..9usize),
        opt(pick(&BLOBS)),
        opt(pick(&DATES)),
        opt(prop::collection::vec(arb_str(), 0..3)),
    ));
    (core, ext).prop_map(
        |((user, display, external, active, url, name, emails, modified, certs), ext)| {
            let mut r = object(&[
                ("userName", user),
                ("displayName", display),
                ("externalId", external),
                ("active", active.map(Value::Bool)),
                ("profileUrl", url.map(|u| json!(u))),
                (
                    "name",
                    name.map(|(f, g)| object(&[("familyName", f), ("givenName", g)])),
                ),
                ("emails", emails.map(Value::Array)),
                (
                    "meta",
                    Some(object(&[("lastModified", modified.map(|d| json!(d)))])),
                ),
                ("x509Certificates", certs.map(Value::Array)),
            ]);
            if let (Some((age, score, blob, since, tags)), Value::Object(o)) = (ext, &mut r) {
                o.insert(
                    EXT.into(),
                    object(&[
                        ("age", age.map(|i| number(i % 5))),
                        ("score", score.map(number)),
                        ("blob", blob.map(|b| json!(b))),
                        ("since", since.map(|d| json!(d))),
                        ("tags", tags.map(Value::Array)),
                    ]),
                );
            }
            r
        },
    )
}

fn object(fields: &[(&str, Option<Value>)]) -> Value {
    let mut m = Map::new();
    for (k, v) in fields {
        if let Some(v) = v {
            m.insert((*k).into(), v.clone());
        }
    }
    Value::Object(m)
}

fn path(text: &str) -> AttrPath {
    AttrPath::parse(text).unwrap()
}

/// Operators and literals that the check accepts for `ty`.
fn arb_comparison(ty: Ty) -> BoxedStrategy<(CompareOp, Literal)> {
    use CompareOp::*;
    let null = (prop::sample::select(vec![Eq, Ne]), Just(Literal::Null));
    let string = |pool: &'static [&'static str]| pick(pool).prop_map(|s| Literal::String(s.into()));
    let typed = match ty {
        Ty::Str(_) => (
            prop::sample::select(OPS.to_vec()),
            prop_oneof![
                4 => string(&STRS),
                1 => Just(Literal::Number(42.into())),
                1 => Just(Literal::Bool(true)),
            ],
        )
            .boxed(),
        Ty::Bin => (
            prop::sample::select(vec![Eq, Ne, Co, Sw, Ew]),
            string(&BLOBS),
        )
            .boxed(),
        Ty::Bool => (
            prop::sample::select(vec![Eq, Ne]),
            any::<bool>().prop_map(Literal::Bool),
        )
            .boxed(),
        Ty::Num => (
            prop::sample::select(vec![Eq, Ne, Gt, Ge, Lt, Le]),
            (0..9usize).prop_map(|i| match number(i) {
                Value::Number(n) => Literal::Number(n),
                _ => Literal::Null,
            }),
        )
            .boxed(),
        Ty::Date => prop_oneof![
            4 => (prop::sample::select(vec![Eq, Ne, Gt, Ge, Lt, Le]), string(&DATES)),
            1 => (prop::sample::select(vec![Co, Sw, Ew]), string(&["2026", "Z", "00:00"])),
        ]
        .boxed(),
        Ty::Complex => Just((Eq, Literal::Null)).boxed(),
    };
    prop_oneof![1 => null, 6 => typed].boxed()
}

fn compare_on(text: &'static str, ty: Ty) -> BoxedStrategy<Filter> {
    arb_comparison(ty)
        .prop_map(move |(op, value)| Filter::Compare {
            attr: path(text),
            op,
            value,
        })
        .boxed()
}

fn present_on(text: &'static str) -> BoxedStrategy<Filter> {
    Just(Filter::Present(path(text))).boxed()
}

/// Leaves at the top level of a User in the model schema.
fn arb_model_leaf() -> BoxedStrategy<Filter> {
    let ext_age: &'static str = "urn:example:params:scim:schemas:extension:model:2.0:User:age";
    let core_user: &'static str = "urn:ietf:params:scim:schemas:core:2.0:User:userName";
    let compares = [
        ("userName", Ty::Str(false)),
        ("USERNAME", Ty::Str(false)),
        (core_user, Ty::Str(false)),
        ("displayName", Ty::Str(false)),
        ("externalId", Ty::Str(true)),
        ("active", Ty::Bool),
        ("profileUrl", Ty::Str(false)),
        ("name.familyName", Ty::Str(false)),
        ("emails", Ty::Str(false)),
        ("emails.value", Ty::Str(false)),
        ("emails.type", Ty::Str(false)),
        ("emails.primary", Ty::Bool),
        ("meta.lastModified", Ty::Date),
        ("x509Certificates.value", Ty::Bin),
        ("age", Ty::Num),
        (ext_age, Ty::Num),
        ("score", Ty::Num),
        ("blob", Ty::Bin),
        ("since", Ty::Date),
        ("tags", Ty::Str(false)),
    ];
    let presents = [
        "userName",
        "name",
        "name.givenName",
        "emails",
        "emails.primary",
        "meta",
        "x509Certificates",
        "age",
        "score",
        "blob",
        "since",
        "tags",
        "active",
        "externalId",
    ];
    let mut leaves: Vec<BoxedStrategy<Filter>> =
        compares.iter().map(|(t, ty)| compare_on(t, *ty)).collect();
    leaves.extend(presents.iter().map(|t| present_on(t)));
    leaves.push(arb_value_path());
    prop::strategy::Union::new(leaves).boxed()
}

fn arb_value_path() -> BoxedStrategy<Filter> {
    let emails = prop::strategy::Union::new(vec![
        compare_on("value", Ty::Str(false)),
        compare_on("type", Ty::Str(false)),
        compare_on("primary", Ty::Bool),
        present_on("value"),
        present_on("primary"),
    ])
    .boxed();
    let certs =
        prop::strategy::Union::new(vec![compare_on("value", Ty::Bin), present_on("value")]).boxed();
    let tags = prop::strategy::Union::new(vec![
        compare_on("value", Ty::Str(false)),
        present_on("value"),
    ])
    .boxed();
    let name = compare_on("familyName", Ty::Str(false));
    let within = |attr: &'static str, leaf: BoxedStrategy<Filter>| {
        arb_tree(leaf).prop_map(move |f| Filter::ValuePath {
            attr: path(attr),
            filter: Box::new(f),
        })
    };
    prop_oneof![
        3 => within("emails", emails),
        1 => within("x509Certificates", certs),
        1 => within("tags", tags),
        1 => within("name", name),
    ]
    .boxed()
}

proptest! {
    #[test]
    fn the_evaluator_agrees_with_the_reference_model(
        f in arb_tree(arb_model_leaf()),
        r in arb_resource(),
    ) {
        let reg = model_registry();
        let checked = f.check(&reg, ResourceKind::User);
        prop_assert!(checked.is_ok(), "{}: {:?}", f, checked);
        prop_assert_eq!(
            f.matches(&r, &reg, ResourceKind::User),
            model(&f, Ctx::Top(&r)),
            "{} on {}", f, r
        );
        // What the printer writes is the same filter.
        let reparsed = parse(&f.to_string()).unwrap();
        prop_assert_eq!(reparsed.matches(&r, &reg, ResourceKind::User), model(&f, Ctx::Top(&r)));
    }
}

#[test]
fn the_model_reads_timestamps_like_rfc3339() {
    // The model's hand-written clock must itself be right for the comparison to mean anything.
    for d in DATES {
        let t = super::super::value::parse_datetime(d).unwrap();
        assert_eq!(nanos(d), Some(t.unix_timestamp_nanos()), "{d}");
    }
}

proptest! {
    // Single expressions are cheap, and a difference in one comparison rule shows up far more
    // often here than buried in a big tree, so this runs more cases.
    #![proptest_config(ProptestConfig::with_cases(2048))]
    #[test]
    fn single_expressions_agree_with_the_reference_model(
        f in arb_model_leaf(),
        r in arb_resource(),
    ) {
        let reg = model_registry();
        prop_assert!(f.check(&reg, ResourceKind::User).is_ok(), "{}", f);
        prop_assert_eq!(
            f.matches(&r, &reg, ResourceKind::User),
            model(&f, Ctx::Top(&r)),
            "{} on {}", f, r
        );
    }
}
