//! Changes over HTTP: every mutation kind of PROTOCOL.md §6, decided by the
//! same sequencer path as a socket `mutate`; and device provisioning.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use vizora_protocol::{Claims, MutationAck, RejectCode, Role, bounds};

use super::{Api, Caller, Problem, body, header_text};
use crate::sequencer::{Replier, mutation_cmd};

/// Device tokens minted by `provision` live this long unless asked otherwise.
const DEVICE_TOKEN_TTL_S: u64 = 365 * 86_400;
/// The longest device token `provision` mints.
const MAX_DEVICE_TOKEN_TTL_S: u64 = 10 * 365 * 86_400;

/// A change: the `mutate` payload of PROTOCOL.md §6. `mutation_id` may come
/// from the `Idempotency-Key` header instead, `base_rev` from `If-Match`,
/// and `client_id` defaults to `http:<token sub>`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[schema(example = json!({"kind": "playlist.rename", "target": "pl-1", "base_rev": 3, "args": {"name": "Lobby"}}))]
pub struct MutationRequest {
    /// The mutation kind, e.g. `content.create`, `device.set_tags`.
    pub kind: String,
    /// Target entity id (absent on creates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The entity's rev the change was based on (kinds that check it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_rev: Option<u64>,
    /// The kind's arguments.
    #[serde(default)]
    pub args: Value,
    /// Unique per client; a retry with the same id is answered `duplicate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutation_id: Option<String>,
    /// The sending client (default `http:<token sub>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// The `mutate` payload for `req` from `caller`, with the headers applied.
fn payload(req: MutationRequest, claims: &Claims, headers: &HeaderMap) -> Result<Value, Problem> {
    let key = header_text(headers, "idempotency-key")?;
    let if_match = header_text(headers, "if-match")?;
    let mutation_id = match (req.mutation_id, key) {
        (Some(body), Some(h)) if body != h => {
            return Err(Problem::bad_request("mutation_id: differs from the Idempotency-Key header"));
        }
        (Some(id), _) => id,
        (None, Some(h)) => h.to_owned(),
        // Not retry-safe: a retry of this request is a new change.
        (None, None) => ulid::Ulid::generate().to_string().to_lowercase(),
    };
    let base_rev = match (req.base_rev, if_match) {
        (Some(r), _) => Some(r),
        (None, Some(h)) => {
            let tag = h.trim().trim_start_matches("W/").trim_matches('"');
            Some(tag.parse::<u64>().map_err(|_| Problem::bad_request("If-Match: must be a rev, e.g. \"3\""))?)
        }
        (None, None) => None,
    };
    let client_id = req.client_id.unwrap_or_else(|| format!("http:{}", claims.sub));
    let mut m = Map::new();
    m.insert("mutation_id".into(), Value::String(mutation_id));
    m.insert("client_id".into(), Value::String(client_id));
    m.insert("kind".into(), Value::String(req.kind));
    if let Some(t) = req.target {
        m.insert("target".into(), Value::String(t));
    }
    if let Some(r) = base_rev {
        m.insert("base_rev".into(), json!(r));
    }
    m.insert("args".into(), req.args);
    Ok(Value::Object(m))
}

/// Decides `payload` for `claims`: the outcome once it is on disk.
async fn decide(api: &Api, claims: Claims, payload: &Value) -> MutationAck {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let stopping = || MutationAck::rejected(RejectCode::Unavailable, "the gateway is stopping; retry");
    let Some(cmd) = mutation_cmd(claims, payload, Replier::Channel(tx)) else {
        // Answered at once: malformed, with ids out of bounds.
        return rx.await.unwrap_or_else(|_| stopping());
    };
    if !api.sequencer.send(cmd) {
        return MutationAck::rejected(RejectCode::RateLimited, "gateway busy; retry later");
    }
    rx.await.unwrap_or_else(|_| stopping())
}

/// The HTTP answer for a mutation outcome.
fn answer(ack: MutationAck) -> Response {
    match ack {
        a @ (MutationAck::Applied { .. } | MutationAck::Duplicate { .. }) => (StatusCode::OK, Json(a)).into_response(),
        MutationAck::Rejected { code, message, current } => {
            Problem::from_rejection(code, &message, current).into_response()
        }
    }
}

/// Applies one change (any kind of PROTOCOL.md §6), exactly once per
/// `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/mutations", tag = "changes", request_body = MutationRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Becomes the mutation_id: a retry is answered `duplicate`, never applied twice"),
        ("If-Match" = Option<String>, Header, description = "The rev the change is based on (base_rev), e.g. \"3\""),
    ),
    responses(
        (status = 200, description = "applied or duplicate", body = MutationAck),
        (status = 400, description = "not JSON, or a bad header", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "base_rev is stale; `current` is the entity now", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid arguments; the detail names the field", body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn mutate(
    State(api): State<Api>,
    Caller(claims): Caller,
    headers: HeaderMap,
    req: Result<Json<MutationRequest>, JsonRejection>,
) -> Result<Response, Problem> {
    let req = body(req)?;
    let payload = payload(req, &claims, &headers)?;
    Ok(answer(decide(&api, claims, &payload).await))
}

/// Pre-registers a device.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct ProvisionRequest {
    /// The device id (generated when absent; send it on a retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display name.
    pub name: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Lifetime of the device token, seconds (default one year, at most ten).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ttl_s: Option<u64>,
}

/// A provisioned device and its token.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct Provisioned {
    /// The device id.
    pub device_id: String,
    /// A `/device` token for it (role `device`).
    pub token: String,
    /// When the token expires, seconds since the epoch.
    pub expires: u64,
    /// The `device.create` outcome (`applied`, or `duplicate` on a retry).
    pub outcome: MutationAck,
}

/// Pre-registers a device (`device.create`, admin) and mints its `/device`
/// token. Only a gateway that signs (HS256) can mint.
#[utoipa::path(post, path = "/api/v1/devices/provision", tag = "changes", request_body = ProvisionRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry answer `duplicate` with a token for the same device; requires `id`")),
    responses(
        (status = 200, body = Provisioned),
        (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the id exists", body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"), (status = 501, description = "this gateway verifies RS256 and cannot sign", body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn provision(
    State(api): State<Api>,
    Caller(claims): Caller,
    headers: HeaderMap,
    req: Result<Json<ProvisionRequest>, JsonRejection>,
) -> Result<Response, Problem> {
    let req = body(req)?;
    if claims.role != Role::Admin {
        return Err(Problem::new(StatusCode::FORBIDDEN, "forbidden", "provisioning a device needs the admin role"));
    }
    if !api.auth.can_mint() {
        return Err(Problem::new(
            StatusCode::NOT_IMPLEMENTED,
            "cannot_sign",
            "this gateway verifies RS256 tokens with a public key and cannot sign: mint device tokens with your issuer",
        ));
    }
    let ttl = req.token_ttl_s.unwrap_or(DEVICE_TOKEN_TTL_S);
    if ttl == 0 || ttl > MAX_DEVICE_TOKEN_TTL_S {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("token_ttl_s: must be 1..={MAX_DEVICE_TOKEN_TTL_S}"),
        ));
    }
    if req.id.is_none() && headers.contains_key("idempotency-key") {
        // A retry would be `duplicate` yet get a token for another, new id.
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "id: required with an Idempotency-Key (a retry must name the device it created)",
        ));
    }
    let device_id = req.id.unwrap_or_else(|| format!("dev-{}", ulid::Ulid::generate().to_string().to_lowercase()));
    bounds::id("id", &device_id)
        .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string()))?;
    let change = MutationRequest {
        kind: "device.create".into(),
        target: None,
        base_rev: None,
        args: json!({ "id": device_id, "name": req.name, "tags": req.tags }),
        mutation_id: None,
        client_id: None,
    };
    let payload = payload(change, &claims, &headers)?;
    let outcome = decide(&api, claims.clone(), &payload).await;
    if let MutationAck::Rejected { code, message, current } = outcome {
        return Err(Problem::from_rejection(code, &message, current));
    }
    let now_s = vizora_protocol::now_ms() / 1000;
    let device = Claims {
        sub: device_id.clone(),
        org: claims.org,
        role: Role::Device,
        exp: now_s + ttl,
        // After the creation: an older token of a removed device stays revoked.
        iat: Some(now_s as f64),
    };
    let token = api
        .auth
        .mint(&device)
        .ok_or_else(|| Problem::new(StatusCode::NOT_IMPLEMENTED, "cannot_sign", "this gateway cannot sign tokens"))?;
    Ok(Json(Provisioned { device_id, token, expires: device.exp, outcome }).into_response())
}
