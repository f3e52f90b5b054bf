//! The org's log over HTTP: a JSON page from `since`, and a live stream of
//! Server-Sent Events whose ids are `epoch:seq`, resumable with
//! `Last-Event-ID` exactly like a socket `subscribe` with `since`. Both read
//! committed entries from the store on a blocking thread, never on the
//! sequencer; a stream waits for the org's head to move.

use std::convert::Infallible;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::value::RawValue;
use utoipa::IntoParams;
use vizora_protocol::bounds;

use super::{Api, Caller, Problem, header_text, query};
use crate::store::LogRead;

/// Most entries in one log page.
const MAX_PAGE: usize = 1000;
/// Entries read from the store per step of a stream.
const STREAM_ROWS: usize = 500;

/// Where to start: after `since` (`epoch:seq`), at most `limit` entries.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// `epoch:seq` of the last entry already seen; absent: from the oldest retained.
    since: Option<String>,
    /// Entries per page, 1..=1000 (default 1000; ignored by the stream).
    limit: Option<usize>,
}

/// A log position as text (`epoch:seq`).
fn parse_position(field: &str, s: &str) -> Result<(String, u64), Problem> {
    let bad = || Problem::bad_request(format!("{field}: must be epoch:seq"));
    let (epoch, seq) = s.trim().rsplit_once(':').ok_or_else(bad)?;
    let seq: u64 = seq.parse().map_err(|_| bad())?;
    if bounds::id("epoch", epoch).is_err() || seq > bounds::MAX_SAFE_INT {
        return Err(bad());
    }
    Ok((epoch.to_owned(), seq))
}

/// Where a read starts: after this seq of this epoch, up to `head`, with a
/// reader of the log.
struct Start {
    epoch: String,
    head: u64,
    after: u64,
    reader: Box<dyn LogRead>,
}

/// Checks `since` against the org's log (as a socket `subscribe` does) and
/// opens a reader: 410 when the position is of another epoch or already
/// pruned (start again from the entities, then from the head).
async fn start(api: &Api, org: &str, since: Option<(String, u64)>) -> Result<Start, Problem> {
    api.read(org, move |ctx| {
        let after = match since {
            None => ctx.oldest.map_or(ctx.head, |o| o.saturating_sub(1)),
            Some((epoch, seq)) => {
                if epoch != ctx.epoch {
                    return Err(Problem::new(
                        StatusCode::GONE,
                        "gone",
                        "since: another epoch of this log; read the entities again and follow from the head",
                    ));
                }
                if seq > ctx.head {
                    return Err(Problem::bad_request(format!("since: beyond the head ({})", ctx.head)));
                }
                if seq != ctx.head && ctx.oldest.is_none_or(|o| seq + 1 < o) {
                    return Err(Problem::new(
                        StatusCode::GONE,
                        "gone",
                        "since: no longer in the retained history; read the entities again and follow from the head",
                    ));
                }
                seq
            }
        };
        let reader = ctx.store.reader().map_err(|e| {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", format!("log unreadable: {e}")).retry_after(1)
        })?;
        Ok(Start { epoch: ctx.epoch.to_owned(), head: ctx.head, after, reader })
    })
    .await?
}

/// Reads rows off the async runtime; the reader comes back for the next read.
async fn read_rows(
    mut reader: Box<dyn LogRead>,
    org: String,
    after: u64,
    limit: usize,
) -> Result<(Box<dyn LogRead>, Vec<(u64, String)>), Problem> {
    let read = tokio::task::spawn_blocking(move || {
        let rows = reader.read_log(&org, after, limit);
        rows.map(|rows| (reader, rows))
    })
    .await;
    match read {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e)) => {
            Err(Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", format!("log: {e}")).retry_after(1))
        }
        Err(_) => Err(Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "log read failed")),
    }
}

/// A page of the log (documentation of what `page` writes).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code, reason = "the page is written as raw JSON; this is its schema")]
pub(crate) struct LogPage {
    /// The log's epoch.
    epoch: String,
    /// The org's head when the page was read.
    head_seq: u64,
    /// Entries in seq order, as PROTOCOL.md §4 writes them.
    entries: Vec<LogEntryDoc>,
    /// `epoch:seq` of the last entry here (or `since` when none): the next page's `since`.
    next: String,
}

/// One log entry (PROTOCOL.md §4): `data`'s shape follows `type`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = LogEntry)]
#[allow(dead_code, reason = "schema only")]
pub(crate) struct LogEntryDoc {
    /// Position in the org's log, gap-free within an epoch.
    seq: u64,
    /// When the gateway wrote it (ms since the Unix epoch).
    ts_ms: u64,
    /// What happened, e.g. `device.upserted`, `mutation.applied`.
    #[serde(rename = "type")]
    kind: String,
    /// The event's payload.
    data: serde_json::Map<String, serde_json::Value>,
}

/// A page of the log: entries after `since`, in order, as PROTOCOL.md §4
/// writes them.
#[utoipa::path(get, path = "/api/v1/log", tag = "log", params(LogQuery),
    responses(
        (status = 200, description = "entries after `since`: pass `next` as `since` for the next page", body = LogPage),
        (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "since is pruned or of another epoch", body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"), (status = 503, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn page(
    State(api): State<Api>,
    Caller(c): Caller,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let q = query(q)?;
    let limit = match q.limit {
        None => MAX_PAGE,
        Some(n) if (1..=MAX_PAGE).contains(&n) => n,
        Some(_) => return Err(Problem::bad_request(format!("limit: must be 1..={MAX_PAGE}"))),
    };
    let since = q.since.as_deref().map(|s| parse_position("since", s)).transpose()?;
    let st = start(&api, &c.org, since).await?;
    let want = limit.min(usize::try_from(st.head.saturating_sub(st.after)).unwrap_or(usize::MAX));
    let (_, rows) = read_rows(st.reader, c.org.clone(), st.after, want).await?;
    if rows.first().is_some_and(|(seq, _)| *seq != st.after + 1) {
        return Err(Problem::new(StatusCode::GONE, "gone", "since: pruned while reading; read the entities again"));
    }
    let next = rows.last().map_or(st.after, |(seq, _)| *seq);
    let entries: Vec<Box<RawValue>> =
        rows.into_iter().filter_map(|(_, text)| RawValue::from_string(text).ok()).collect();
    let body = serde_json::json!({
        "epoch": st.epoch,
        "head_seq": st.head,
        "entries": entries,
        "next": format!("{}:{next}", st.epoch),
    });
    Ok(axum::Json(body).into_response())
}

/// The log live, as Server-Sent Events: `event: entry`, `id: epoch:seq`,
/// `data:` the entry. Resumes after `Last-Event-ID` (or `since`); without
/// either, from the oldest retained entry. When the stream falls behind the
/// retained history it sends `event: gone` and ends.
#[utoipa::path(get, path = "/api/v1/events", tag = "log", params(LogQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "epoch:seq of the last entry seen (wins over since)")),
    responses(
        (status = 200, description = "text/event-stream of `entry` events", content_type = "text/event-stream", body = String),
        (status = 400, body = Problem, content_type = "application/problem+json"), (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "the position is pruned or of another epoch", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "too many streams open", body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn events(
    State(api): State<Api>,
    Caller(c): Caller,
    headers: HeaderMap,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let q = query(q)?;
    let since = match header_text(&headers, "last-event-id")? {
        Some(id) if !id.trim().is_empty() => Some(parse_position("Last-Event-ID", id)?),
        _ => q.since.as_deref().map(|s| parse_position("since", s)).transpose()?,
    };
    let permit = api.streams.clone().try_acquire_owned().map_err(|_| {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "too many event streams open").retry_after(5)
    })?;
    // Followed before the first read, so no commit falls between the two.
    let mut moved = api.sequencer.shared.watch_head(&c.org);
    let st = start(&api, &c.org, since).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(STREAM_ROWS);
    let org = c.org.clone();
    let stopping = api.stopping.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let (epoch, mut after, mut reader) = (st.epoch, st.after, st.reader);
        loop {
            let rows = match read_rows(reader, org.clone(), after, STREAM_ROWS).await {
                Ok((r, rows)) => {
                    reader = r;
                    rows
                }
                Err(p) => {
                    let _ = tx.send(Event::default().event("error").data(p.detail)).await;
                    return;
                }
            };
            if rows.is_empty() {
                tokio::select! {
                    changed = moved.changed() => if changed.is_err() { return },
                    () = tx.closed() => return,
                    () = stopping.cancelled() => return,
                }
                continue;
            }
            if rows[0].0 != after + 1 {
                let gone = format!("entries after {epoch}:{after} are no longer retained; read the entities again");
                let _ = tx.send(Event::default().event("gone").data(gone)).await;
                return;
            }
            for (seq, text) in rows {
                if tx.send(Event::default().event("entry").id(format!("{epoch}:{seq}")).data(text)).await.is_err() {
                    return;
                }
                after = seq;
            }
        }
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx)) });
    let mut r = Sse::new(stream).keep_alive(KeepAlive::default()).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache"));
    Ok(r)
}
