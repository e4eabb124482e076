//! Checking a presented secret against the configured ones.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The token of an `Authorization: Bearer TOKEN` header, if there is one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// True when no tokens are configured (open service) or `presented` equals
/// one of them. Compared in constant time, so timing reveals nothing.
pub fn token_allowed(configured: &[String], presented: Option<&str>) -> bool {
    if configured.is_empty() {
        return true;
    }
    let Some(presented) = presented else {
        return false;
    };
    configured.iter().fold(false, |found, token| {
        found | constant_time_eq::constant_time_eq(token.as_bytes(), presented.as_bytes())
    })
}

/// A `401` (`{"error": …}` with `WWW-Authenticate`) unless the request
/// carries one of the API tokens `configured` (or none is configured): the
/// check of the API's plain routes (export, recordings).
pub fn api_token_refusal(configured: &[String], headers: &HeaderMap) -> Option<Response> {
    if token_allowed(configured, bearer_token(headers)) {
        return None;
    }
    let body =
        serde_json::json!({ "error": "a valid `Authorization: Bearer TOKEN` header is required" });
    let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"udesk-calls\""),
    );
    Some(response)
}

/// The index of the configured token `presented` equals, if any; every
/// token is compared, in constant time, whichever matches.
pub fn matching_token(configured: &[String], presented: Option<&str>) -> Option<usize> {
    let presented = presented?;
    configured
        .iter()
        .enumerate()
        .fold(None, |found, (index, token)| {
            let equal = constant_time_eq::constant_time_eq(token.as_bytes(), presented.as_bytes());
            if equal { Some(index) } else { found }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_configured_token_opens_and_nothing_else_does() {
        let tokens = vec!["old".to_owned(), "new".to_owned()];
        assert!(token_allowed(&tokens, Some("old")));
        assert!(token_allowed(&tokens, Some("new")));
        assert!(!token_allowed(&tokens, Some("ne")));
        assert!(!token_allowed(&tokens, None));
        assert!(token_allowed(&[], None));
        assert_eq!(matching_token(&tokens, Some("new")), Some(1));
        assert_eq!(matching_token(&tokens, Some("neww")), None);
        assert_eq!(matching_token(&[], Some("new")), None);
    }

    #[test]
    fn a_bearer_token_is_read_whatever_the_case_of_the_scheme() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
    }
}
