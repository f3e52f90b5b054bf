//! The HTTP JSON API under `/api/v1` (docs/http-api.md): the same JWT,
//! roles, org isolation, validation and decisions as the socket path. Reads
//! run on the sequencer after a flush (they show what is on disk); changes
//! go through the same `Cmd::Mutate` as a socket `mutate`; the log is read
//! from the store, page by page or as a Server-Sent Events stream.

// A `Problem` is the error path of a request, built at most once per
// request: its size does not matter there.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{Semaphore, oneshot};
use utoipa::{IntoParams, ToSchema};
use vizora_protocol::{AlertState, Claims, DeviceStatus, EntityKind, OrgState, RejectCode, Role, Severity, bounds};

use crate::auth::Auth;
use crate::sequencer::{Cmd, ReadCtx, SequencerHandle};
use crate::session::Bucket;

mod change;
pub mod doc;
mod log;

/// Longest list page.
pub const MAX_LIMIT: usize = 1000;
/// List page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// Event streams open at once per gateway; more are answered 503.
const MAX_STREAMS: usize = 1024;

/// Callers with a rate-limit bucket kept; past it, buckets that have
/// refilled (idle callers) are dropped.
const MAX_CALLER_BUCKETS: usize = 10_000;

/// Requests per second and burst allowed to one token (org and `sub`):
/// the socket's per-connection event rate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallerRate {
    pub(crate) per_s: f64,
    pub(crate) burst: f64,
}

/// Token buckets by (org, sub).
type CallerBuckets = HashMap<(String, String), Option<Bucket>>;

/// What the routes share.
#[derive(Clone)]
pub(crate) struct Api {
    pub(crate) sequencer: SequencerHandle,
    pub(crate) auth: Auth,
    rate: CallerRate,
    buckets: Arc<std::sync::Mutex<CallerBuckets>>,
    streams: Arc<Semaphore>,
    /// Cancelled when the gateway shuts down: event streams end, so the
    /// graceful shutdown does not wait on them.
    pub(crate) stopping: tokio_util::sync::CancellationToken,
}

/// The routes under `/api/v1`.
pub(crate) fn router(
    sequencer: SequencerHandle,
    auth: Auth,
    rate: CallerRate,
    stopping: tokio_util::sync::CancellationToken,
) -> Router {
    let buckets = Arc::default();
    let api = Api { sequencer, auth, rate, buckets, streams: Arc::new(Semaphore::new(MAX_STREAMS)), stopping };
    Router::new()
        .route("/api/v1/openapi.json", get(doc::serve))
        .route("/api/v1/head", get(head))
        .route("/api/v1/devices", get(list_devices))
        .route("/api/v1/devices/{id}", get(get_device))
        .route("/api/v1/devices/provision", post(change::provision))
        .route("/api/v1/playlists", get(list_playlists))
        .route("/api/v1/playlists/{id}", get(get_playlist))
        .route("/api/v1/content", get(list_content))
        .route("/api/v1/content/{id}", get(get_content))
        .route("/api/v1/schedules", get(list_schedules))
        .route("/api/v1/schedules/{id}", get(get_schedule))
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alerts/{id}", get(get_alert))
        .route("/api/v1/mutations", post(change::mutate))
        .route("/api/v1/log", get(log::page))
        .route("/api/v1/events", get(log::events))
        .route(
            "/api/v1/{*rest}",
            axum::routing::any(|| async {
                Problem::new(StatusCode::NOT_FOUND, "not_found", "no such route under /api/v1")
            }),
        )
        .method_not_allowed_fallback(|| async {
            Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
        })
        .with_state(api)
}

/// An error as `application/problem+json` (RFC 9457), with the protocol's
/// code in `code` and, on a conflict, the entity as it is in `current`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:vizora:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong here, naming the field where one is at fault.
    pub detail: String,
    /// The protocol's code (`conflict`, `invalid`, `forbidden`, ...).
    pub code: String,
    /// On a conflict: the entity as it is now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<Value>,
    #[serde(skip)]
    retry_after: Option<u32>,
}

impl Problem {
    /// A problem with `status` and protocol `code`.
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:vizora:problem:{code}"),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            current: None,
            retry_after: None,
        }
    }

    fn retry_after(mut self, s: u32) -> Self {
        self.retry_after = Some(s);
        self
    }

    fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    fn busy() -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "gateway busy; retry later").retry_after(1)
    }

    /// The HTTP form of a refused mutation.
    pub fn from_rejection(code: RejectCode, message: &str, current: Option<Value>) -> Self {
        let status = match code {
            RejectCode::Conflict => StatusCode::CONFLICT,
            RejectCode::NotFound => StatusCode::NOT_FOUND,
            RejectCode::Forbidden => StatusCode::FORBIDDEN,
            RejectCode::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            RejectCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            RejectCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut p = Self::new(status, code.as_str(), message);
        p.current = current;
        if matches!(code, RejectCode::RateLimited | RejectCode::Unavailable) {
            p.retry_after = Some(1);
        }
        p
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut r = (status, [(header::CONTENT_TYPE, "application/problem+json")], body).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// The caller: a verified `Authorization: Bearer` token of a wall role.
pub(crate) struct Caller(pub(crate) Claims);

impl FromRequestParts<Api> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Problem> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| {
                Problem::new(StatusCode::UNAUTHORIZED, "token_missing", "Authorization: Bearer <JWT> is required")
            })?;
        let claims = api.auth.verify(token).map_err(|code| {
            let code = serde_json::to_value(code).ok().and_then(|v| v.as_str().map(str::to_owned));
            let code = code.unwrap_or_else(|| "token_invalid".to_owned());
            Problem::new(StatusCode::UNAUTHORIZED, &code, "the token was refused")
        })?;
        if claims.role == Role::Device {
            return Err(Problem::new(StatusCode::FORBIDDEN, "forbidden", "device tokens are for /device only"));
        }
        if let Err(wait_s) = api.admit(&claims) {
            return Err(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests for this token",
            )
            .retry_after(u32::try_from(wait_s).unwrap_or(3600)));
        }
        Ok(Caller(claims))
    }
}

impl Api {
    /// Takes one request from the caller's token bucket (on the gateway's clock).
    /// Refused: `Err` with the seconds until the next request would pass.
    fn admit(&self, c: &Claims) -> Result<(), u64> {
        let now_ms = self.sequencer.shared.clock.now_ms();
        let CallerRate { per_s, burst } = self.rate;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let key = (c.org.clone(), c.sub.clone());
        if !buckets.contains_key(&key) && buckets.len() >= MAX_CALLER_BUCKETS {
            // Idle callers' buckets are full again: forgetting them changes nothing.
            buckets.retain(|_, b| b.as_ref().is_some_and(|b| !b.is_full(now_ms, per_s, burst)));
            // All busy: keep the map bounded by forgetting some callers (they
            // start again with a full bucket) rather than refuse a new one.
            while buckets.len() >= MAX_CALLER_BUCKETS / 2 {
                let Some(k) = buckets.keys().next().cloned() else { break };
                buckets.remove(&k);
            }
        }
        let slot = buckets.entry(key).or_default();
        if Bucket::take(slot, now_ms, per_s, burst) {
            Ok(())
        } else {
            Err(slot.as_ref().map_or(1, |b| b.wait_s(per_s)))
        }
    }

    /// Runs `f` on the sequencer over `org`'s committed state.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        org: &str,
        f: impl FnOnce(ReadCtx<'_>) -> T + Send + 'static,
    ) -> Result<T, Problem> {
        let (tx, rx) = oneshot::channel();
        let read = Box::new(move |ctx: ReadCtx<'_>| {
            let _ = tx.send(f(ctx));
        });
        if !self.sequencer.send(Cmd::Read { org: org.to_owned(), read }) {
            return Err(Problem::busy());
        }
        rx.await.map_err(|_| Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the gateway is stopping"))
    }
}

/// The org's log position.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Head {
    /// Log epoch.
    pub epoch: String,
    /// Last committed seq.
    pub head_seq: u64,
}

/// The org's head: where its log is now.
#[utoipa::path(get, path = "/api/v1/head", tag = "log",
    responses((status = 200, body = Head), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn head(State(api): State<Api>, Caller(c): Caller) -> Result<axum::Json<Head>, Problem> {
    let h = api.read(&c.org, |ctx| Head { epoch: ctx.epoch.to_owned(), head_seq: ctx.head }).await?;
    Ok(axum::Json(h))
}

/// One page of a list, in id order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    /// Log epoch of the state listed.
    pub epoch: String,
    /// The state listed is the org's at this seq.
    pub head_seq: u64,
    /// The items, by id.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Paging: ids after `cursor`, at most `limit`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Items per page, 1..=1000 (default 100).
    limit: Option<usize>,
}

/// Filters for devices.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceFilter {
    /// Only devices with this status.
    status: Option<DeviceStatus>,
    /// Only devices carrying this tag.
    tag: Option<String>,
}

/// Filters for alerts.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertFilter {
    /// Only alerts in this state.
    state: Option<AlertState>,
    /// Only alerts of this severity.
    severity: Option<Severity>,
}

fn query<T: Default>(q: Result<Query<T>, QueryRejection>) -> Result<T, Problem> {
    q.map(|Query(t)| t).map_err(|e| Problem::bad_request(format!("query: {}", e.body_text())))
}

impl PageQuery {
    fn check(&self) -> Result<usize, Problem> {
        if let Some(c) = &self.cursor {
            bounds::id("cursor", c).map_err(|e| Problem::bad_request(e.to_string()))?;
        }
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(Problem::bad_request(format!("limit: must be 1..={MAX_LIMIT}"))),
        }
    }
}

/// A page of `kind`'s entities (by id, after the cursor) that pass `keep`.
async fn list<T: Serialize + Clone + Send + 'static>(
    api: &Api,
    org: &str,
    page: PageQuery,
    pick: fn(&OrgState) -> &std::collections::BTreeMap<String, T>,
    keep: impl Fn(&T) -> bool + Send + 'static,
) -> Result<Response, Problem> {
    let limit = page.check()?;
    let cursor = page.cursor;
    let out = api
        .read(org, move |ctx| {
            let map = pick(ctx.state);
            let from = match &cursor {
                Some(c) => map.range::<String, _>((std::ops::Bound::Excluded(c), std::ops::Bound::Unbounded)),
                None => map.range::<String, _>(..),
            };
            let mut items = Vec::with_capacity(limit.min(map.len()));
            let mut next_cursor = None;
            for (id, e) in from.filter(|(_, e)| keep(e)) {
                if items.len() == limit {
                    next_cursor = items.last().map(|(id, _): &(String, T)| id.clone());
                    let _ = id;
                    break;
                }
                items.push((id.clone(), e.clone()));
            }
            Page {
                epoch: ctx.epoch.to_owned(),
                head_seq: ctx.head,
                items: items.into_iter().map(|(_, e)| e).collect(),
                next_cursor,
            }
        })
        .await?;
    Ok(axum::Json(out).into_response())
}

/// One entity by id, or 404.
async fn one<T: Serialize + Clone + Send + 'static>(
    api: &Api,
    org: &str,
    kind: EntityKind,
    id: String,
    pick: fn(&OrgState) -> &std::collections::BTreeMap<String, T>,
) -> Result<Response, Problem> {
    bounds::id("id", &id).map_err(|e| Problem::bad_request(e.to_string()))?;
    let found = api.read(org, move |ctx| pick(ctx.state).get(&id).cloned()).await?;
    match found {
        Some(e) => Ok(axum::Json(e).into_response()),
        None => Err(Problem::new(StatusCode::NOT_FOUND, "not_found", format!("no such {} in this org", kind.as_str()))),
    }
}

/// Devices, with live status and health.
#[utoipa::path(get, path = "/api/v1/devices", tag = "entities", params(PageQuery, DeviceFilter),
    responses((status = 200, body = Page<vizora_protocol::Device>), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_devices(
    State(api): State<Api>,
    Caller(c): Caller,
    page: Result<Query<PageQuery>, QueryRejection>,
    filter: Result<Query<DeviceFilter>, QueryRejection>,
) -> Result<Response, Problem> {
    let (page, f) = (query(page)?, query(filter)?);
    if let Some(t) = &f.tag {
        bounds::text("tag", t).map_err(|e| Problem::bad_request(e.to_string()))?;
    }
    list(
        &api,
        &c.org,
        page,
        |s| &s.devices,
        move |d| f.status.is_none_or(|s| d.status == s) && f.tag.as_ref().is_none_or(|t| d.tags.contains(t)),
    )
    .await
}

/// One device.
#[utoipa::path(get, path = "/api/v1/devices/{id}", tag = "entities", params(("id" = String, Path)),
    responses((status = 200, body = vizora_protocol::Device), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn get_device(
    State(api): State<Api>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    one(&api, &c.org, EntityKind::Device, id, |s| &s.devices).await
}

/// Playlists.
#[utoipa::path(get, path = "/api/v1/playlists", tag = "entities", params(PageQuery),
    responses((status = 200, body = Page<vizora_protocol::Playlist>), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_playlists(
    State(api): State<Api>,
    Caller(c): Caller,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    list(&api, &c.org, query(page)?, |s| &s.playlists, |_| true).await
}

/// One playlist.
#[utoipa::path(get, path = "/api/v1/playlists/{id}", tag = "entities", params(("id" = String, Path)),
    responses((status = 200, body = vizora_protocol::Playlist), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn get_playlist(
    State(api): State<Api>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    one(&api, &c.org, EntityKind::Playlist, id, |s| &s.playlists).await
}

/// Content items.
#[utoipa::path(get, path = "/api/v1/content", tag = "entities", params(PageQuery),
    responses((status = 200, body = Page<vizora_protocol::Content>), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_content(
    State(api): State<Api>,
    Caller(c): Caller,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    list(&api, &c.org, query(page)?, |s| &s.contents, |_| true).await
}

/// One content item.
#[utoipa::path(get, path = "/api/v1/content/{id}", tag = "entities", params(("id" = String, Path)),
    responses((status = 200, body = vizora_protocol::Content), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn get_content(
    State(api): State<Api>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    one(&api, &c.org, EntityKind::Content, id, |s| &s.contents).await
}

/// Schedules.
#[utoipa::path(get, path = "/api/v1/schedules", tag = "entities", params(PageQuery),
    responses((status = 200, body = Page<vizora_protocol::Schedule>), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_schedules(
    State(api): State<Api>,
    Caller(c): Caller,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    list(&api, &c.org, query(page)?, |s| &s.schedules, |_| true).await
}

/// One schedule.
#[utoipa::path(get, path = "/api/v1/schedules/{id}", tag = "entities", params(("id" = String, Path)),
    responses((status = 200, body = vizora_protocol::Schedule), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn get_schedule(
    State(api): State<Api>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    one(&api, &c.org, EntityKind::Schedule, id, |s| &s.schedules).await
}

/// Alerts (resolved ones stay in the log, and here until the retention
/// period drops them from the state).
#[utoipa::path(get, path = "/api/v1/alerts", tag = "entities", params(PageQuery, AlertFilter),
    responses((status = 200, body = Page<vizora_protocol::Alert>), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_alerts(
    State(api): State<Api>,
    Caller(c): Caller,
    page: Result<Query<PageQuery>, QueryRejection>,
    filter: Result<Query<AlertFilter>, QueryRejection>,
) -> Result<Response, Problem> {
    let (page, f) = (query(page)?, query(filter)?);
    list(
        &api,
        &c.org,
        page,
        |s| &s.alerts,
        move |a| f.state.is_none_or(|s| a.state == s) && f.severity.is_none_or(|s| a.severity == s),
    )
    .await
}

/// One alert.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "entities", params(("id" = String, Path)),
    responses((status = 200, body = vizora_protocol::Alert), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 429, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn get_alert(
    State(api): State<Api>,
    Caller(c): Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    one(&api, &c.org, EntityKind::Alert, id, |s| &s.alerts).await
}

/// A JSON body, or a 400 problem saying why not.
pub(crate) fn body<T>(b: Result<axum::Json<T>, JsonRejection>) -> Result<T, Problem> {
    b.map(|axum::Json(t)| t).map_err(|e| Problem::bad_request(format!("body: {}", e.body_text())))
}

/// A header's value as text, or a 400 problem.
pub(crate) fn header_text<'a>(h: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, Problem> {
    match h.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| Problem::bad_request(format!("{name}: must be visible ASCII"))),
    }
}
