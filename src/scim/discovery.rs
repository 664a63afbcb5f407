//! List responses and the discovery documents (RFC 7644 §3.4.2, §4).

use serde_json::{json, Map, Value};

use super::schema::{Registry, ResourceKind, URN_LIST_RESPONSE, URN_SERVICE_PROVIDER_CONFIG};

/// A ListResponse. `Resources` is always present, `[]` when empty (Entra, Microsoft's Postman).
pub fn list_response(resources: Vec<Value>, total: u64, start_index: u64) -> Value {
    // Built by hand: `json!` would serialize `resources` into a deep copy (a tenth of a lookup's
    // CPU, docs/PERFORMANCE.md) where moving the vector in costs nothing.
    let mut body = Map::new();
    body.insert("schemas".into(), json!([URN_LIST_RESPONSE]));
    body.insert("totalResults".into(), json!(total));
    body.insert("itemsPerPage".into(), json!(resources.len()));
    body.insert("startIndex".into(), json!(start_index));
    body.insert("Resources".into(), Value::Array(resources));
    Value::Object(body)
}

/// A ListResponse for cursor paging (RFC 9865 §2). `startIndex` is left out: it numbers
/// index pages, and a cursor page has no index. `totalResults` is left out when `total` is
/// `None`, which RFC 9865 §2 allows only when the count cannot be estimated.
/// `nextCursor` is absent exactly on the last page; `previousCursor` on the first.
pub fn cursor_list_response(
    resources: Vec<Value>,
    total: Option<u64>,
    next: Option<String>,
    previous: Option<String>,
) -> Value {
    let mut body = Map::new();
    body.insert("schemas".into(), json!([URN_LIST_RESPONSE]));
    if let Some(t) = total {
        body.insert("totalResults".into(), json!(t));
    }
    body.insert("itemsPerPage".into(), json!(resources.len()));
    if let Some(p) = previous {
        body.insert("previousCursor".into(), Value::String(p));
    }
    if let Some(n) = next {
        body.insert("nextCursor".into(), Value::String(n));
    }
    body.insert("Resources".into(), Value::Array(resources));
    Value::Object(body)
}

/// What the server supports, stated truthfully; clients such as authentik act on it.
pub struct Capabilities {
    pub max_results: usize,
    /// `bulk.maxOperations` and `bulk.maxPayloadSize`: the limits /Bulk enforces.
    pub max_bulk_operations: usize,
    pub max_payload_size: usize,
}

pub fn service_provider_config(caps: &Capabilities, location: &str) -> Value {
    json!({
        "schemas": [URN_SERVICE_PROVIDER_CONFIG],
        "documentationUri": "https://github.com/scimd/scimd#readme",
        "patch": {"supported": true},
        // authentik also reads maxOperations as its PATCH chunk size: a PATCH takes more
        // (compat::MAX_OPERATIONS), so its chunks are always accepted.
        "bulk": {"supported": true, "maxOperations": caps.max_bulk_operations, "maxPayloadSize": caps.max_payload_size},
        "filter": {"supported": true, "maxResults": caps.max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        // RFC 9865 §4. Index stays the default (§2.4: clients written before cursors exist
        // expect it). No cursorTimeout: cursors are stateless and never expire.
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": caps.max_results,
            "maxPageSize": caps.max_results,
        },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a bearer token issued by the scimd administrator (scimd token issue).",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": location},
    })
}

pub fn resource_types(reg: &Registry, base: &str) -> Vec<Value> {
    [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .map(|k| reg.resource_type_json(k, &format!("{base}/ResourceTypes/{}", k.name())))
        .collect()
}

pub fn schemas(reg: &Registry, base: &str) -> Vec<Value> {
    reg.schemas()
        .into_iter()
        .map(|s| s.to_json(&format!("{base}/Schemas/{}", s.id)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_response_keeps_its_key_order_and_resources() {
        let r = list_response(vec![json!({"id": "a"}), json!({"id": "b"})], 7, 3);
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            format!(
                "{{\"schemas\":[\"{URN_LIST_RESPONSE}\"],\"totalResults\":7,\"itemsPerPage\":2,\
                 \"startIndex\":3,\"Resources\":[{{\"id\":\"a\"}},{{\"id\":\"b\"}}]}}"
            )
        );
        let empty = list_response(Vec::new(), 0, 1);
        assert_eq!(empty["Resources"], json!([]));
        assert_eq!(empty["itemsPerPage"], json!(0));
    }

    #[test]
    fn empty_list_still_has_resources() {
        let l = list_response(vec![], 0, 1);
        assert_eq!(l["Resources"], json!([]));
        assert_eq!(l["totalResults"], 0);
        assert_eq!(l["startIndex"], 1);
    }

    #[test]
    fn cursor_list_has_cursors_and_no_start_index() {
        let l = cursor_list_response(
            vec![json!({"id": "a"})],
            Some(7),
            Some("next".into()),
            Some("prev".into()),
        );
        assert_eq!(l["schemas"], json!([URN_LIST_RESPONSE]));
        assert_eq!(l["totalResults"], 7);
        assert_eq!(l["itemsPerPage"], 1);
        assert_eq!(l["nextCursor"], "next");
        assert_eq!(l["previousCursor"], "prev");
        assert!(l.get("startIndex").is_none(), "{l}");

        // The last page of a walk that started here: no cursors, and no total when unknown.
        let last = cursor_list_response(vec![], None, None, None);
        assert_eq!(last["Resources"], json!([]));
        assert_eq!(last["itemsPerPage"], 0);
        for absent in ["totalResults", "nextCursor", "previousCursor", "startIndex"] {
            assert!(last.get(absent).is_none(), "{absent}: {last}");
        }
    }

    #[test]
    fn service_provider_config_states_sort_and_pagination() {
        let caps = Capabilities {
            max_results: 200,
            max_bulk_operations: 1000,
            max_payload_size: 1 << 20,
        };
        let spc = service_provider_config(&caps, "https://x/scim/v2/ServiceProviderConfig");
        assert_eq!(spc["sort"]["supported"], true);
        assert_eq!(
            spc["pagination"],
            json!({
                "cursor": true,
                "index": true,
                "defaultPaginationMethod": "index",
                "defaultPageSize": 200,
                "maxPageSize": 200,
            })
        );
        assert!(spc["pagination"].get("cursorTimeout").is_none());
    }

    #[test]
    fn resource_types_point_at_endpoints() {
        let rts = resource_types(&Registry::new(), "https://x/scim/v2");
        assert_eq!(rts[0]["endpoint"], "/Users");
        assert_eq!(rts[1]["endpoint"], "/Groups");
        assert_eq!(rts[0]["schemaExtensions"][0]["required"], false);
    }
}
