//! One log line per request: method, path, status and duration.
//!
//! The path is logged without its query string, which carries the webhook's
//! token, and with any long run of digits masked (a phone number someone put
//! in a URL). Everything a handler logs runs inside the request's `http` span,
//! so it is attributed to the request; the closing line is logged outside it,
//! so it does not repeat the method and path.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::domain::masking::mask_long_numbers;

pub async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = mask_long_numbers(request.uri().path()).into_owned();
    let span = tracing::info_span!("http", %method, %path);
    let received = Instant::now();
    let response = async {
        // Lets a trace (and the shutdown test) see that a request was read.
        tracing::debug!("request received");
        next.run(request).await
    }
    .instrument(span)
    .await;
    let duration_ms = (received.elapsed().as_secs_f64() * 1e6).round() / 1e3;
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        duration_ms,
        "request"
    );
    response
}
