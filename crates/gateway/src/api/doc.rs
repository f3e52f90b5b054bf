//! The OpenAPI 3.1 document of the HTTP API, generated from the handlers'
//! types (utoipa) and served at `/api/v1/openapi.json`; `docs/openapi.json`
//! is this document checked in (a test keeps the two equal).

use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::change::{MutationRequest, ProvisionRequest, Provisioned};
use super::{Head, Problem};

/// The API's document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Vizora gateway HTTP API", description = "Reads, changes and the log of one org, as the JWT says. \
        The same roles, validation and decisions as the Socket.IO API (docs/protocol.md)."),
    paths(
        super::head,
        super::list_devices, super::get_device,
        super::list_playlists, super::get_playlist,
        super::list_content, super::get_content,
        super::list_schedules, super::get_schedule,
        super::list_alerts, super::get_alert,
        super::change::mutate, super::change::provision,
        super::log::page, super::log::events,
    ),
    components(schemas(Head, Problem, MutationRequest, ProvisionRequest, Provisioned, vizora_protocol::MutationAck)),
    modifiers(&Bearer),
    tags(
        (name = "entities", description = "The org's state, as committed"),
        (name = "changes", description = "Mutations (PROTOCOL.md §6) and provisioning"),
        (name = "log", description = "The org's ordered log: head, pages, live events"),
    )
)]
pub struct ApiDoc;

struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document as pretty JSON (what `docs/openapi.json` holds).
pub fn json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

pub(crate) async fn serve() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], json()).into_response()
}
