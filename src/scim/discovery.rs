//! List responses and the discovery documents (RFC 7644 §3.4.2, §4).

use serde_json::{json, Value};

use super::schema::{Registry, ResourceKind, URN_LIST_RESPONSE, URN_SERVICE_PROVIDER_CONFIG};

/// A ListResponse. `Resources` is always present, `[]` when empty (Entra, Microsoft's Postman).
pub fn list_response(resources: Vec<Value>, total: u64, start_index: u64) -> Value {
    json!({
        "schemas": [URN_LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "startIndex": start_index,
        "Resources": resources,
    })
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
        "sort": {"supported": false},
        "etag": {"supported": true},
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
    fn empty_list_still_has_resources() {
        let l = list_response(vec![], 0, 1);
        assert_eq!(l["Resources"], json!([]));
        assert_eq!(l["totalResults"], 0);
        assert_eq!(l["startIndex"], 1);
    }

    #[test]
    fn resource_types_point_at_endpoints() {
        let rts = resource_types(&Registry::new(), "https://x/scim/v2");
        assert_eq!(rts[0]["endpoint"], "/Users");
        assert_eq!(rts[1]["endpoint"], "/Groups");
        assert_eq!(rts[0]["schemaExtensions"][0]["required"], false);
    }
}
