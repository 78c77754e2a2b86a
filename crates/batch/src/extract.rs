//! What the routes read from a request, one way for files and batches in both shapes: the
//! caller ([`Caller`], before the body is read), a JSON body within its bound ([`json_body`]),
//! and a listing's page ([`Paging`]), which every listing cuts the same way ([`Paging::cut`]).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::FromRequestParts;
use http::request::Parts;
use identity::Principal;
use serde::de::DeserializeOwned;

use crate::Batches;
use crate::error::ApiError;

/// The largest body of a creation (a batch or a job): a few names and the metadata.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The caller of a request, from its bearer key or access token, established before anything
/// else is read.
pub(crate) struct Caller(pub Arc<Principal>);

impl FromRequestParts<Arc<Batches>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        batches: &Arc<Batches>,
    ) -> Result<Caller, ApiError> {
        batches.caller(&parts.headers).await.map(Caller)
    }
}

/// The body as `T`; `what` names it in the error ("a batch", "a batch job").
pub(crate) async fn json_body<T: DeserializeOwned>(body: Body, what: &str) -> Result<T, ApiError> {
    let bytes = to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::invalid("body", "the body is not readable or too large"))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid("body", format!("the body is not {what}: {e}")))
}

/// A listing's query parameters, as given.
pub(crate) type ListQuery = HashMap<String, String>;

/// How large a page may be, and under which parameter the caller says it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageSize {
    pub param: &'static str,
    pub default: u32,
    pub max: u32,
}

/// One page of a listing, newest first unless the listing says otherwise: at most `limit`
/// objects, after the one `after` names.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paging<Id> {
    pub after: Option<Id>,
    pub limit: u32,
}

impl<Id: FromStr> Paging<Id> {
    /// The page `query` asks for; `what` names the listed objects in `after`'s error.
    pub fn read(query: &ListQuery, size: PageSize, what: &str) -> Result<Paging<Id>, ApiError> {
        let limit = match query.get(size.param) {
            None => size.default,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=size.max).contains(n))
                .ok_or_else(|| {
                    let message = format!("`{}` is a number from 1 to {}", size.param, size.max);
                    ApiError::invalid(size.param, message)
                })?,
        };
        let after =
            match query.get("after") {
                None => None,
                Some(text) => Some(text.parse::<Id>().map_err(|_| {
                    ApiError::invalid("after", format!("`after` is the id of {what}"))
                })?),
            };
        Ok(Paging { after, limit })
    }

    /// How many rows to read: one past the page, to know whether more follow.
    pub fn rows(&self) -> u32 {
        self.limit.saturating_add(1)
    }

    /// The page of the rows read, and whether more follow.
    pub fn cut<T>(&self, mut rows: Vec<T>) -> (Vec<T>, bool) {
        let limit = self.limit as usize;
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        (rows, has_more)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: PageSize = PageSize {
        param: "limit",
        default: 20,
        max: 100,
    };

    fn query(pairs: &[(&str, &str)]) -> ListQuery {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_page_is_one_to_its_largest_size_and_defaults() {
        let page = Paging::<u32>::read(&query(&[]), SIZE, "a batch").unwrap();
        assert_eq!((page.limit, page.after), (20, None));
        let page = Paging::<u32>::read(&query(&[("limit", "100"), ("after", "7")]), SIZE, "a");
        assert_eq!(page.map(|p| (p.limit, p.after)).unwrap(), (100, Some(7)));
        for refused in ["0", "101", "-1", "ten"] {
            let asked = query(&[("limit", refused)]);
            assert!(Paging::<u32>::read(&asked, SIZE, "a").is_err(), "{refused}");
        }
        assert!(Paging::<u32>::read(&query(&[("after", "x")]), SIZE, "a").is_err());
    }

    #[test]
    fn a_page_cut_from_one_row_more_says_more_follow() {
        let page = Paging::<u32> {
            after: None,
            limit: 2,
        };
        assert_eq!(page.rows(), 3);
        assert_eq!(page.cut(vec![1, 2, 3]), (vec![1, 2], true));
        assert_eq!(page.cut(vec![1, 2]), (vec![1, 2], false));
    }
}
