//! Cursor pagination for list endpoints: `?limit=N&cursor=C` in, `{"items": […],
//! "next_cursor": C | null}` out. A cursor is opaque to clients (base64url of a small JSON
//! value naming the last item of the previous page, versioned); a damaged one is a
//! `validation-failed` problem on the `cursor` parameter, never a server error.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::problem::ApiError;

/// Version tag inside every cursor (a cursor from another version is refused cleanly).
const CURSOR_VERSION: u32 = 1;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;

/// Largest page size.
pub const MAX_LIMIT: u32 = 500;

/// The paging query parameters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page (1–500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    v: u32,
    after: T,
}

impl PageQuery {
    /// The page size, checked.
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::field(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            )),
        }
    }

    /// The position after which the page starts, decoded from the cursor.
    pub fn after<T: DeserializeOwned>(&self) -> Result<Option<T>, ApiError> {
        let Some(c) = &self.cursor else {
            return Ok(None);
        };
        let bad = || ApiError::field("cursor", "not a cursor this server issued");
        let bytes = URL_SAFE_NO_PAD.decode(c.as_bytes()).map_err(|_| bad())?;
        let env: Envelope<T> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if env.v != CURSOR_VERSION {
            return Err(bad());
        }
        Ok(Some(env.after))
    }
}

/// The cursor naming the position `after`.
pub fn encode_cursor<T: Serialize>(after: &T) -> String {
    let env = Envelope {
        v: CURSOR_VERSION,
        after,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&env).unwrap_or_default())
}

/// Cuts a page from `rows` fetched with `LIMIT limit + 1`: the first `limit` rows, and the
/// cursor after the last of them if there were more.
pub fn paginate<T, K: Serialize>(
    mut rows: Vec<T>,
    limit: u32,
    position: impl Fn(&T) -> K,
) -> (Vec<T>, Option<String>) {
    let limit = limit as usize;
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(|r| encode_cursor(&position(r)));
        (rows, next)
    } else {
        (rows, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_damaged_ones_are_validation_errors() {
        let c = encode_cursor(&("2026-01-01T00:00:00Z", "ak_1"));
        let q = PageQuery {
            limit: Some(2),
            cursor: Some(c),
        };
        let after: Option<(String, String)> = q.after().unwrap();
        assert_eq!(after.unwrap().1, "ak_1");
        let bad = PageQuery {
            limit: Some(0),
            cursor: Some("%%%".into()),
        };
        assert_eq!(bad.limit().unwrap_err().errors[0].field, "limit");
        assert_eq!(
            bad.after::<(String, String)>().unwrap_err().errors[0].field,
            "cursor"
        );
    }

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_exist() {
        let (items, next) = paginate(vec![1, 2, 3], 2, |n| *n);
        assert_eq!(items, vec![1, 2]);
        let q = PageQuery {
            limit: None,
            cursor: next,
        };
        assert_eq!(q.after::<i32>().unwrap(), Some(2));
        let (items, next) = paginate(vec![1, 2], 2, |n| *n);
        assert_eq!(items.len(), 2);
        assert!(next.is_none());
    }
}
