//! `/graphql`: GraphQL over HTTP, the GraphiQL page, and bearer-token auth.
//!
//! `POST` takes a JSON request (or a batch) declared as JSON; `GET` takes a
//! query in the URL and refuses mutations, as the GraphQL-over-HTTP spec
//! asks. The response is `application/graphql-response+json` when the client
//! accepts it (then a request that could not run is a `400`), else
//! `application/json` with `200`; a request that could not run has no `data`
//! entry. async-graphql-axum's extractor and responder do neither (see
//! `ARCHITECTURE.md`, "Where async-graphql-axum serves"), so this module
//! negotiates itself; `scripts/graphql-http-audit.sh` checks it against the
//! spec's audit suite. A browser's `GET` without a query gets GraphiQL; that
//! page holds no data, so it is served without a token, and GraphiQL sends
//! the token from its headers editor with each query. A `GET` upgrading to
//! a WebSocket gets live updates (`websocket`).

use std::sync::Arc;
use std::time::Instant;

use async_graphql::BatchRequest;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::graphql::build_schema;
use crate::graphql::error::{BAD_USER_INPUT, UNAUTHENTICATED};
use crate::graphql::runtime::QueryRuntime;

use super::AppState;
use super::connections::ConnectionHold;
use super::forwarded::ClientAddress;
use super::graphql_run::{Answer, Runner};
use super::rate_limit::{Meter, WorkDone};
use super::tokens::token_allowed;
use super::webhook::caused_by;
use super::websocket::LiveUpdates;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// The most requests one batched POST may hold. The requests of a batch
/// also share one budget of complexity and response bytes.
const MAX_BATCH: usize = 10;

#[derive(Clone)]
struct GraphqlState {
    runner: Runner,
    api_tokens: Arc<Vec<String>>,
    /// `/graphql` upgraded to a WebSocket (subscriptions).
    live: LiveUpdates,
}

/// The `/graphql` routes, with their own state so the app's stays small,
/// and their own runtime (see `graphql::runtime`).
pub fn routes(state: &AppState) -> Router {
    let runner = Runner {
        schema: build_schema(
            state.store.clone(),
            state.settings.default_offset,
            state.settings.graphql_max_response_bytes,
        ),
        runtime: Arc::new(QueryRuntime::new()),
        timeout: state.settings.graphql_timeout,
        max_response_bytes: state.settings.graphql_max_response_bytes,
    };
    let api_tokens = Arc::new(state.settings.api_tokens.clone());
    let graphql = GraphqlState {
        live: LiveUpdates::new(
            runner.clone(),
            api_tokens.clone(),
            &state.settings.http_limits,
            state.metrics.live.clone(),
        ),
        runner,
        api_tokens,
    };
    let router = Router::new()
        .route("/graphql", get(get_or_upgrade).post(over_post))
        .with_state(graphql)
        .route("/graphiql/{file}", get(super::graphiql::asset));
    match cors(&state.settings.cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// Lets pages of the configured origins call the API from a browser. Only
/// `/graphql` gets it: the webhook is called by Udesk's servers, not pages.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allowed = if origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allowed)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
            .max_age(std::time::Duration::from_secs(3600)),
    )
}

/// `GET /graphql`: a WebSocket upgrade (live updates), or GraphQL over GET.
async fn get_or_upgrade(
    State(state): State<GraphqlState>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    hold: Option<Extension<ConnectionHold>>,
    client: Option<Extension<ClientAddress>>,
    meter: Option<Extension<Meter>>,
    headers: HeaderMap,
    query: RawQuery,
) -> Response {
    match upgrade {
        Ok(upgrade) => state.live.accept(
            upgrade,
            &headers,
            hold.map(|Extension(hold)| hold),
            client.map(|Extension(ClientAddress(client))| client),
            meter.map(|Extension(meter)| meter),
        ),
        Err(_) => over_get(State(state), headers, query).await,
    }
}

async fn over_get(
    State(state): State<GraphqlState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let started = Instant::now();
    charged(started, get_answer(state, headers, query).await)
}

async fn get_answer(state: GraphqlState, headers: HeaderMap, query: Option<String>) -> Response {
    let query = query.unwrap_or_default();
    if query.is_empty() && accepts(&headers, "text/html") {
        return super::graphiql::page().into_response();
    }
    if let Some(refusal) = check_token(&state, &headers) {
        return refusal;
    }
    let request = match async_graphql::http::parse_query_string(&query) {
        Ok(request) => request,
        Err(error) => {
            return request_error(
                &headers,
                format!("the URL holds no GraphQL request: {error}"),
            );
        }
    };
    if request.query.is_empty() {
        return request_error(&headers, "the URL has no `query` parameter".to_owned());
    }
    if is_mutation(&request) {
        let mut response =
            request_error(&headers, "mutations are only accepted over POST".to_owned());
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    match state.runner.run(move || Ok(request.into())).await {
        Ok(answer) => respond(&headers, answer),
        Err(unreadable) => request_error(&headers, unreadable),
    }
}

/// The largest POST body read: a query document is at most 64 KiB, and a
/// batch ten of them with their variables.
const MAX_POST_BYTES: usize = 2 * 1024 * 1024;

async fn over_post(State(state): State<GraphqlState>, headers: HeaderMap, body: Body) -> Response {
    // Refused before the body is read: a client without a token cannot
    // hold a connection busy by trickling a body.
    if let Some(refusal) = check_token(&state, &headers) {
        return refusal;
    }
    if let Some(refusal) = check_content_type(&headers) {
        return refusal;
    }
    let body = match axum::body::to_bytes(body, MAX_POST_BYTES).await {
        Ok(body) => body,
        Err(error) => {
            let mut response =
                request_error(&headers, format!("the body could not be read: {error}"));
            if caused_by::<http_body_util::LengthLimitError>(&error) {
                *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            }
            return response;
        }
    };
    let started = Instant::now();
    charged(started, post_answer(state, headers, body).await)
}

/// `response` marked with the service's work on it since `started` (the
/// body read), for the rate limit: whatever it answers, a refusal to parse
/// the body included.
fn charged(started: Instant, mut response: Response) -> Response {
    response
        .extensions_mut()
        .insert(WorkDone(started.elapsed()));
    response
}

async fn post_answer(state: GraphqlState, headers: HeaderMap, body: Bytes) -> Response {
    // Read on the GraphQL threads too: a body of megabytes takes a while.
    match state.runner.run(move || read_batch(&body)).await {
        Ok(answer) => respond(&headers, answer),
        Err(unreadable) => request_error(&headers, unreadable),
    }
}

/// The request or batch in a POST body, or why there is none to run.
fn read_batch(body: &[u8]) -> Result<BatchRequest, String> {
    let batch: BatchRequest = serde_json::from_slice(body)
        .map_err(|error| format!("the body is not a GraphQL request in JSON: {error}"))?;
    if batch.iter().any(|request| request.query.is_empty()) {
        return Err("the request has no `query`: send {\"query\": \"{ … }\"}".to_owned());
    }
    if let BatchRequest::Batch(requests) = &batch
        && requests.len() > MAX_BATCH
    {
        return Err(format!(
            "a batch holds at most {MAX_BATCH} requests; this one holds {}",
            requests.len()
        ));
    }
    Ok(batch)
}

/// A `401` unless the request carries an accepted bearer token (or none is configured).
fn check_token(state: &GraphqlState, headers: &HeaderMap) -> Option<Response> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    if token_allowed(&state.api_tokens, presented) {
        return None;
    }
    let body = error_body(
        "a valid `Authorization: Bearer TOKEN` header is required",
        UNAUTHENTICATED,
    );
    let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"udesk-calls\""),
    );
    Some(response)
}

/// A `415` unless the body is declared JSON. The spec asks for a 4xx when
/// no type is given (and `fetch` then sends `text/plain`); refusing the types
/// a page of another site may send without a CORS preflight (`text/plain`,
/// forms) also keeps such pages from running queries with a user's cookies
/// or a local trial's open API.
fn check_content_type(headers: &HeaderMap) -> Option<Response> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or_default().trim());
    let json = declared.is_some_and(|media_type| {
        media_type.eq_ignore_ascii_case("application/json")
            || media_type.to_ascii_lowercase().ends_with("+json")
    });
    if json {
        return None;
    }
    let what = match declared {
        Some(media_type) => format!("this one is `{media_type}`"),
        None => "this one has none".to_owned(),
    };
    let mut response = request_error(
        headers,
        format!("a POST to /graphql needs `Content-Type: application/json`; {what}"),
    );
    *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
    Some(response)
}

fn is_mutation(request: &async_graphql::Request) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    // Too long to parse here: the runner refuses it, mutation or not.
    if crate::graphql::cost::check_length(&request.query).is_err() {
        return false;
    }
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    let is_mutation = |ty: OperationType| ty == OperationType::Mutation;
    match &document.operations {
        DocumentOperations::Single(operation) => is_mutation(operation.node.ty),
        DocumentOperations::Multiple(operations) => match &request.operation_name {
            Some(name) => operations
                .get(name.as_str())
                .is_some_and(|op| is_mutation(op.node.ty)),
            None => operations.values().any(|op| is_mutation(op.node.ty)),
        },
    }
}

fn accepts(headers: &HeaderMap, media_type: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            item.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(media_type))
        })
}

fn error_body(message: &str, code: &str) -> serde_json::Value {
    json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })
}

/// A request that could not even be read: `400` in either media type.
fn request_error(headers: &HeaderMap, message: String) -> Response {
    let mut response = (
        StatusCode::BAD_REQUEST,
        axum::Json(error_body(&message, BAD_USER_INPUT)),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, media_type(headers));
    response
}

fn media_type(headers: &HeaderMap) -> HeaderValue {
    if accepts(headers, GRAPHQL_RESPONSE) {
        HeaderValue::from_static(GRAPHQL_RESPONSE)
    } else {
        HeaderValue::from_static("application/json")
    }
}

fn respond(headers: &HeaderMap, answer: Answer) -> Response {
    let content_type = media_type(headers);
    let status = if answer.not_run && content_type == GRAPHQL_RESPONSE {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut response = (status, answer.body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
}
