//! Property tests of the grammar: the printer's output parses back to the same tree, and the
//! parser never panics and always says where a problem is.

use proptest::prelude::*;
use serde_json::Number;

use super::super::error::ScimType;
use super::super::path::AttrPath;
use super::{parse, CompareOp, Filter, Literal};

pub(super) const EXT: &str = "urn:example:params:scim:schemas:extension:model:2.0:User";
const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

pub(super) const OPS: [CompareOp; 9] = [
    CompareOp::Eq,
    CompareOp::Ne,
    CompareOp::Co,
    CompareOp::Sw,
    CompareOp::Ew,
    CompareOp::Gt,
    CompareOp::Ge,
    CompareOp::Lt,
    CompareOp::Le,
];

// ---------------------------------------------------------------------------------------------
// Round trip: parse(print(f)) == f

fn arb_name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_-]{0,6}".prop_filter("keywords are not attribute names", |n| {
        !["and", "or", "not"]
            .iter()
            .any(|k| n.eq_ignore_ascii_case(k))
    })
}

fn arb_path(with_sub: bool) -> impl Strategy<Value = AttrPath> {
    let urn = prop_oneof![
        3 => Just(None),
        1 => Just(Some(CORE.to_string())),
        1 => Just(Some(EXT.to_string())),
    ];
    let sub = if with_sub {
        prop_oneof![
            2 => Just(None),
            1 => arb_name().prop_map(Some),
            1 => Just(Some("$ref".to_string())),
        ]
        .boxed()
    } else {
        Just(None).boxed()
    };
    (urn, arb_name(), sub).prop_map(|(urn, name, sub)| AttrPath { urn, name, sub })
}

fn arb_literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        Just(Literal::Null),
        any::<bool>().prop_map(Literal::Bool),
        any::<i64>().prop_map(|i| Literal::Number(i.into())),
        any::<u64>().prop_map(|i| Literal::Number(i.into())),
        any::<f64>()
            .prop_filter_map("finite", Number::from_f64)
            .prop_map(Literal::Number),
        any::<String>().prop_map(Literal::String),
    ]
}

fn arb_leaf(with_sub: bool) -> BoxedStrategy<Filter> {
    prop_oneof![
        arb_path(with_sub).prop_map(Filter::Present),
        (
            arb_path(with_sub),
            prop::sample::select(OPS.to_vec()),
            arb_literal()
        )
            .prop_map(|(attr, op, value)| Filter::Compare { attr, op, value }),
    ]
    .boxed()
}

pub(super) fn arb_tree(leaf: BoxedStrategy<Filter>) -> impl Strategy<Value = Filter> {
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Filter::Not(Box::new(a))),
        ]
    })
}

fn arb_syntax_tree() -> impl Strategy<Value = Filter> {
    let value_path = (arb_path(false), arb_tree(arb_leaf(true)))
        .prop_map(|(attr, f)| Filter::ValuePath {
            attr,
            filter: Box::new(f),
        })
        .boxed();
    arb_tree(prop_oneof![3 => arb_leaf(true), 1 => value_path].boxed())
}

proptest! {
    #[test]
    fn printing_then_parsing_gives_the_same_tree(f in arb_syntax_tree()) {
        let text = f.to_string();
        let back = parse(&text);
        prop_assert_eq!(back.as_ref().ok(), Some(&f), "{} -> {:?}", text, back);
    }

    #[test]
    fn parse_never_panics_and_errors_carry_a_position(
        text in prop_oneof![
            any::<String>(),
            "(\\(|\\)|\\[|\\]|\"|\\\\| |eq|gt|pr|and|or|not|a|b\\.c|urn:x:y|1|-2\\.5e3|true|null|\\.v|é){0,24}",
        ]
    ) {
        if let Err(e) = parse(&text) {
            prop_assert_eq!(e.status, 400);
            prop_assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
            prop_assert!(e.detail.contains("at position "), "{}", e.detail);
        }
    }
}
