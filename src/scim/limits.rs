//! Request bounds the protocol core enforces, as plain numbers: the HTTP layer fills them from
//! the configuration, so the core knows nothing of where they come from.

use super::error::{ScimError, ScimType};
use super::filter::FilterLimits;

/// The bounds on one request's filter, PATCH operations and group members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub filter: FilterLimits,
    /// Operations in one PatchOp request.
    pub max_patch_operations: usize,
    /// Members named in one POST, PUT or PATCH of a group.
    pub max_members_per_request: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            filter: FilterLimits::default(),
            max_patch_operations: super::compat::MAX_OPERATIONS,
            max_members_per_request: 10_000,
        }
    }
}

impl Limits {
    /// Refuses a request that names more than `max_members_per_request` members. RFC 7644
    /// §3.12 lists `tooMany` for PATCH, not for POST or PUT, which get `invalidValue`.
    pub fn check_members(&self, named: usize, in_patch: bool) -> Result<(), ScimError> {
        let max = self.max_members_per_request;
        if named <= max {
            return Ok(());
        }
        let scim_type = if in_patch {
            ScimType::TooMany
        } else {
            ScimType::InvalidValue
        };
        Err(ScimError::bad_request(
            scim_type,
            format!(
                "the request names {named} members; the limit is {max} per request \
                 (max_members_per_request): send the members in several PATCH requests"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_over_the_limit_are_refused_with_the_scim_type_of_the_method() {
        let l = Limits {
            max_members_per_request: 2,
            ..Limits::default()
        };
        assert!(l.check_members(2, false).is_ok());
        let e = l.check_members(3, true).unwrap_err();
        assert_eq!((e.status, e.scim_type), (400, Some(ScimType::TooMany)));
        assert!(e.detail.contains("3 members") && e.detail.contains("limit is 2"));
        let e = l.check_members(3, false).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    }
}
