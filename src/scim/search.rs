//! The parameters of a list request (RFC 7644 §3.4.2), from a GET's query string or from the
//! body of `POST …/.search` (§3.4.3), which carries the same parameters as JSON.

use serde_json::Value;

use super::error::ScimError;

pub const URN_SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// Query parameters of a list request, with attribute lists joined the way the query string
/// carries them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListParams {
    pub filter: Option<String>,
    /// 1-based; values below 1 are read as 1 (RFC 7644 §3.4.2.4).
    pub start_index: Option<i64>,
    /// Negative is read as 0; above the maximum is clamped to it.
    pub count: Option<i64>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
    /// `sortBy` (RFC 7644 §3.4.2.3): an attribute path.
    pub sort_by: Option<String>,
    /// `sortOrder`: `ascending` (default) or `descending`.
    pub sort_order: Option<String>,
    /// `cursor` (RFC 9865): `Some("")` asks for the first page of a cursor walk.
    pub cursor: Option<String>,
}

fn field<'a>(o: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    o.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

/// `attributes` is an array of strings in the RFC; a comma-separated string is accepted too.
fn names(o: &serde_json::Map<String, Value>, name: &str) -> Result<Option<String>, ScimError> {
    match field(o, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    ScimError::invalid_value(format!(
                        "\"{name}\" must list attribute names as strings"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| Some(v.join(","))),
        Some(_) => Err(ScimError::invalid_value(format!(
            "\"{name}\" must be an array of attribute names"
        ))),
    }
}

fn string(o: &serde_json::Map<String, Value>, name: &str) -> Result<Option<String>, ScimError> {
    match field(o, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ScimError::invalid_value(format!(
            "\"{name}\" must be a string"
        ))),
    }
}

fn int(o: &serde_json::Map<String, Value>, name: &str) -> Result<Option<i64>, ScimError> {
    match field(o, name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| ScimError::invalid_value(format!("\"{name}\" must be an integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ScimError::invalid_value(format!("\"{name}\" must be an integer"))),
        Some(_) => Err(ScimError::invalid_value(format!(
            "\"{name}\" must be an integer"
        ))),
    }
}

impl ListParams {
    /// Reads a SearchRequest body. Unknown members are ignored, as unknown query parameters are.
    pub fn from_search(body: &Value) -> Result<ListParams, ScimError> {
        let Value::Object(o) = body else {
            return Err(ScimError::invalid_syntax(
                "a .search body is a JSON object (urn:ietf:params:scim:api:messages:2.0:SearchRequest)",
            ));
        };
        let filter = match field(o, "filter") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(ScimError::invalid_filter("\"filter\" must be a string")),
        };
        Ok(ListParams {
            filter,
            start_index: int(o, "startIndex")?,
            count: int(o, "count")?,
            attributes: names(o, "attributes")?,
            excluded_attributes: names(o, "excludedAttributes")?,
            sort_by: string(o, "sortBy")?,
            sort_order: string(o, "sortOrder")?,
            cursor: string(o, "cursor")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_rfc_example_and_refuses_wrong_types() {
        let r = ListParams::from_search(&json!({
            "schemas": [URN_SEARCH_REQUEST],
            "attributes": ["displayName", "userName"],
            "filter": "displayName sw \"smith\"",
            "startIndex": 1, "count": 10
        }))
        .unwrap();
        assert_eq!(r.attributes.as_deref(), Some("displayName,userName"));
        assert_eq!(r.filter.as_deref(), Some("displayName sw \"smith\""));
        assert_eq!((r.start_index, r.count), (Some(1), Some(10)));
        assert!(ListParams::from_search(&json!({"count": "x"})).is_err());
        assert!(ListParams::from_search(&json!({"filter": 3})).is_err());
        assert!(ListParams::from_search(&json!([1])).is_err());
        assert_eq!(
            ListParams::from_search(&json!({})).unwrap(),
            ListParams::default()
        );
    }
}
