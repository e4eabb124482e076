//! What a web page may make a visitor's browser do to this service.
//!
//! A page of another site can make the browser send requests here, even to
//! a service on the visitor's own loopback, and the browser attaches no
//! token, but an open service needs none. So:
//!
//! - A request whose `Origin` is another site is refused (`403`), on the
//!   webhook always (Udesk's servers send no `Origin`), on GraphQL unless
//!   `--cors-origin` allows that origin. Same-origin requests (the `Origin`
//!   naming the host the request was sent to) pass: GraphiQL sends them. A
//!   request without `Origin` that the browser marks as coming from another
//!   site (`Sec-Fetch-Site`: an image, a script, a form's GET) is refused
//!   alike; following a link (a navigation) is not.
//! - An open service on loopback answers only requests addressed to a
//!   loopback name (`Host`: `localhost`, `127.0.0.1`, `[::1]`, any port): a
//!   page on a name that its DNS later points at 127.0.0.1 (DNS rebinding)
//!   is then refused.
//! - Every answer forbids framing (`X-Frame-Options: DENY`) and content
//!   sniffing, and carries a Content-Security-Policy: GraphiQL sets its
//!   own, anything else gets one that allows nothing.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tower_http::set_header::SetResponseHeaderLayer;

/// The policy of answers that are no page: nothing may run or load.
const NOTHING_ALLOWED: &str = "default-src 'none'; frame-ancestors 'none'";

/// The origins of other sites whose pages may call a route.
#[derive(Clone, Debug)]
pub enum OtherOrigins {
    None,
    Listed(Arc<Vec<String>>),
    Any,
}

impl OtherOrigins {
    /// From `--cors-origin`: `*` allows any, otherwise the origins listed.
    pub fn from_settings(origins: &[String]) -> OtherOrigins {
        if origins.iter().any(|origin| origin == "*") {
            OtherOrigins::Any
        } else if origins.is_empty() {
            OtherOrigins::None
        } else {
            OtherOrigins::Listed(Arc::new(origins.to_vec()))
        }
    }

    fn allow(&self, origin: &str) -> bool {
        match self {
            OtherOrigins::None => false,
            OtherOrigins::Any => true,
            OtherOrigins::Listed(origins) => origins
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(origin)),
        }
    }
}

/// Middleware: refuses requests a page of another site made the browser send.
pub async fn refuse_other_sites(
    State(allowed): State<OtherOrigins>,
    request: Request,
    next: Next,
) -> Response {
    match from_other_site(request.headers(), &allowed) {
        Some(why) => forbidden(why),
        None => next.run(request).await,
    }
}

/// Why a request comes from a page of another site not allowed, if it does.
fn from_other_site(headers: &HeaderMap, allowed: &OtherOrigins) -> Option<&'static str> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("null");
        if same_origin(origin, headers) || allowed.allow(origin) {
            return None;
        }
        return Some(
            "requests from pages of another site are refused; the operator may allow a site with --cors-origin",
        );
    }
    let fetched_by = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let cross_site = matches!(
        fetched_by("sec-fetch-site"),
        Some("cross-site" | "same-site")
    );
    if cross_site && fetched_by("sec-fetch-mode") != Some("navigate") {
        return Some("requests a page of another site makes a browser send are refused");
    }
    None
}

/// Whether `origin` (`scheme://host[:port]`) names the host the request was
/// sent to. The scheme is not compared: behind a TLS-terminating proxy the
/// service cannot know it, and a host serves its own pages either way.
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

/// Middleware for an open service on loopback: refuses requests addressed
/// to any name but a loopback one.
pub async fn refuse_other_hosts(request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    if host.is_some_and(is_loopback_host) {
        return next.run(request).await;
    }
    forbidden(
        "this service has no tokens, so it answers only requests addressed to localhost, 127.0.0.1 or [::1]",
    )
}

/// `localhost`, `127.0.0.1` or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        // `[::1]` alone also has colons, inside its brackets.
        Some((name, port)) if !port.ends_with(']') => {
            if !port.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            name
        }
        _ => host,
    };
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .any(|loopback| name.eq_ignore_ascii_case(loopback))
}

/// Whether the DNS-rebinding rule applies: the surface needs no token, and
/// the service listens on loopback (an open service elsewhere was asked
/// for with `--insecure`, and is reachable without any browser's help).
pub fn guards_host(open: bool, listening_on: SocketAddr) -> bool {
    open && listening_on.ip().is_loopback()
}

fn forbidden(why: &str) -> Response {
    (StatusCode::FORBIDDEN, Json(json!({ "error": why }))).into_response()
}

/// Adds the headers every answer carries, pages and the rest alike.
pub fn with_security_headers(router: Router) -> Router {
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    router
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(NOTHING_ALLOWED),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn loopback_names_pass_with_any_port_and_nothing_else_does() {
        for host in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:1",
            "[::1]",
            "[::1]:8080",
            "LOCALHOST",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.2",
            "127.0.0.1.nip.io",
            "localhost:80x",
            "[::2]:80",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn an_origin_passes_when_it_names_the_requested_host_or_is_allowed() {
        let none = OtherOrigins::None;
        let same = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        assert_eq!(from_other_site(&same, &none), None);
        let proxied = headers(&[
            ("host", "calls.example.com"),
            ("origin", "https://calls.example.com"),
        ]);
        assert_eq!(from_other_site(&proxied, &none), None);
        let other = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://evil.example"),
        ]);
        assert!(from_other_site(&other, &none).is_some());
        let other_port = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:9999"),
        ]);
        assert!(from_other_site(&other_port, &none).is_some());
        let sandboxed = headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]);
        assert!(from_other_site(&sandboxed, &OtherOrigins::None).is_some());
        let listed = OtherOrigins::from_settings(&["https://evil.example".to_owned()]);
        assert_eq!(from_other_site(&other, &listed), None);
        assert_eq!(
            from_other_site(&other, &OtherOrigins::from_settings(&["*".to_owned()])),
            None
        );
    }

    #[test]
    fn a_cross_site_request_without_origin_is_refused_unless_it_is_a_navigation() {
        let none = OtherOrigins::None;
        let image = headers(&[
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "no-cors"),
        ]);
        assert!(from_other_site(&image, &none).is_some());
        let link = headers(&[
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
        ]);
        assert_eq!(from_other_site(&link, &none), None);
        let own_script = headers(&[
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-mode", "no-cors"),
        ]);
        assert_eq!(from_other_site(&own_script, &none), None);
        assert_eq!(from_other_site(&HeaderMap::new(), &none), None);
    }
}
