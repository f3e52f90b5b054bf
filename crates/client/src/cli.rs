//! The `vizora tail` and `vizora state` commands, as library functions over
//! the client thread ([`crate::spawn`]): no Bevy, no engine, only what the
//! log and snapshots say. The binary parses arguments and calls these.

pub mod api;

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use serde::Serialize;
use serde_json::json;
use vizora_protocol::{AuthErrorCode, Entity, EntityKind, Event, LogEntry, OrgState, Position, SubscribeMode};

use crate::{ClientConfig, ConnectionState, Update, spawn};

/// A sensible limit for [`state`]: long enough for a few reconnects and a
/// large snapshot, short enough that a script notices a dead gateway.
pub const STATE_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a waiting command looks at its stop flag.
const POLL: Duration = Duration::from_millis(100);

/// Why a CLI command failed, worded for the user.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// `--since` is not `EPOCH:SEQ`.
    #[error("--since: {problem} (expected EPOCH:SEQ, e.g. 01JD4Z:1042), got `{input}`")]
    Since {
        /// What the user typed.
        input: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The gateway refused the token on CONNECT.
    #[error("the gateway refused the token: {} ({})", .code.as_str(), refusal_hint(*.code))]
    Refused {
        /// The CONNECT_ERROR code.
        code: AuthErrorCode,
    },
    /// A server URL cannot be used as configured (scheme, or a token that
    /// would travel unencrypted without `--insecure`).
    #[error("cannot use {server}: {reason}")]
    Misconfigured {
        /// The URL.
        server: String,
        /// Why.
        reason: String,
    },
    /// No complete state arrived in time.
    #[error("no state from {servers} within {}s: {last}", .after.as_secs_f32())]
    Timeout {
        /// The servers tried.
        servers: String,
        /// The limit.
        after: Duration,
        /// The last thing the connection reported.
        last: String,
    },
    /// The client thread stopped on its own.
    #[error("the client stopped unexpectedly: {0}")]
    Stopped(String),
    /// The client thread could not be started.
    #[error("could not start the client thread: {0}")]
    Spawn(#[source] io::Error),
    /// The output file could not be written.
    #[error("writing {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// Standard output (or the given writer) failed, other than a closed pipe.
    #[error("writing output: {0}")]
    Output(#[source] io::Error),
}

fn refusal_hint(code: AuthErrorCode) -> &'static str {
    match code {
        AuthErrorCode::TokenMissing => "pass one with --token",
        AuthErrorCode::TokenInvalid => "bad signature or claims; is it signed with this gateway's secret?",
        AuthErrorCode::TokenExpired => "mint a new one",
        AuthErrorCode::TokenRevoked => "the device was removed after this token was issued; mint a new one",
        AuthErrorCode::WrongNamespace => "this token's role may not read /wall",
    }
}

/// Parses `--since EPOCH:SEQ` (the epoch may itself contain `:`; the last one splits).
pub fn parse_since(s: &str) -> Result<Position, CliError> {
    let err = |problem| CliError::Since { input: s.to_owned(), problem };
    let (epoch, seq) = s.rsplit_once(':').ok_or_else(|| err("no `:` between epoch and seq"))?;
    if epoch.trim().is_empty() {
        return Err(err("the epoch is empty"));
    }
    if seq.is_empty() {
        return Err(err("the seq is empty"));
    }
    let seq = seq.parse::<u64>().map_err(|_| err("the seq is not a whole number"))?;
    Ok(Position { epoch: epoch.to_owned(), seq })
}

/// Entities per kind, as a snapshot or the state file holds them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    /// Devices.
    pub device: usize,
    /// Playlists.
    pub playlist: usize,
    /// Content items.
    pub content: usize,
    /// Schedules.
    pub schedule: usize,
    /// Alerts.
    pub alert: usize,
}

impl KindCounts {
    /// Counts a list of entities by kind.
    pub fn of_entities<'a>(entities: impl IntoIterator<Item = &'a Entity>) -> Self {
        let mut c = Self::default();
        for e in entities {
            *c.slot(e.kind()) += 1;
        }
        c
    }

    /// Counts what `state` holds.
    pub fn of_state(state: &OrgState) -> Self {
        Self {
            device: state.devices.len(),
            playlist: state.playlists.len(),
            content: state.contents.len(),
            schedule: state.schedules.len(),
            alert: state.alerts.len(),
        }
    }

    fn slot(&mut self, kind: EntityKind) -> &mut usize {
        match kind {
            EntityKind::Device => &mut self.device,
            EntityKind::Playlist => &mut self.playlist,
            EntityKind::Content => &mut self.content,
            EntityKind::Schedule => &mut self.schedule,
            EntityKind::Alert => &mut self.alert,
        }
    }
}

impl fmt::Display for KindCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { device, playlist, content, schedule, alert } = self;
        write!(f, "device={device} playlist={playlist} content={content} schedule={schedule} alert={alert}")
    }
}

/// What `vizora state` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSummary {
    /// Log epoch of the state.
    pub epoch: String,
    /// Log position the state is consistent with.
    pub seq: u64,
    /// Entities written, per kind.
    pub counts: KindCounts,
}

impl fmt::Display for StateSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "state at {}:{}: {}", self.epoch, self.seq, self.counts)
    }
}

/// A flag that turns true on the first Ctrl-C (SIGINT), for [`tail`]'s `stop`.
/// From then on Ctrl-C no longer kills the process; `tail` notices within 100 ms.
pub fn stop_on_ctrl_c() -> io::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // Registered here, before returning, so a Ctrl-C right after start is not lost.
    #[cfg(unix)]
    let mut interrupt = {
        let _rt = rt.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?
    };
    std::thread::Builder::new().name("vizora-ctrl-c".into()).spawn(move || {
        #[cfg(unix)]
        let got = rt.block_on(interrupt.recv()).is_some();
        #[cfg(not(unix))]
        let got = rt.block_on(tokio::signal::ctrl_c()).is_ok();
        if got {
            set.store(true, Ordering::SeqCst);
        }
    })?;
    Ok(flag)
}

/// `vizora tail`: follows the log from `cfg.since` (none: from a snapshot)
/// and writes one line per applied entry to `out`; with `json`, each entry
/// as PROTOCOL.md §4 shows it, plus a `{"snapshot": …}` line per snapshot
/// and a `{"connection": …}` line per connection state change. Returns when
/// `stop` turns true or `out` is closed (a broken pipe is a clean end);
/// fails when the token is refused or `out` fails otherwise.
pub fn tail(cfg: ClientConfig, json: bool, out: &mut impl Write, stop: &AtomicBool) -> Result<(), CliError> {
    let handle = spawn(cfg).map_err(CliError::Spawn)?;
    let result = loop {
        if stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        let update = match handle.updates.recv_timeout(POLL) {
            Ok(u) => u,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break Err(CliError::Stopped("the client thread ended".into())),
        };
        let written = write_update(out, &update, json).and_then(|()| {
            // Lines show as they come, whatever buffering the caller's writer has.
            if handle.updates.is_empty() { out.flush() } else { Ok(()) }
        });
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break Ok(()),
            Err(e) => break Err(CliError::Output(e)),
        }
        match update {
            Update::Connection(ConnectionState::Refused(code)) => break Err(CliError::Refused { code }),
            Update::Connection(ConnectionState::Misconfigured { server, reason }) => {
                break Err(CliError::Misconfigured { server, reason });
            }
            Update::Connection(ConnectionState::Stopped) => {
                break Err(CliError::Stopped("the client thread ended".into()));
            }
            Update::ServerError(e) => {
                tracing::warn!(code = e.code.as_str(), message = %e.message, "gateway reported an error")
            }
            _ => {}
        }
    };
    handle.shutdown();
    result
}

/// Writes the lines one update makes (none for most).
fn write_update(out: &mut impl Write, update: &Update, json: bool) -> io::Result<()> {
    match update {
        Update::Entries { items, .. } => {
            for entry in items {
                if json {
                    writeln!(out, "{}", serde_json::to_string(entry).map_err(io::Error::other)?)?;
                } else {
                    writeln!(out, "{}", entry_line(entry))?;
                }
            }
            Ok(())
        }
        Update::Snapshot { epoch, seq, entities } => {
            let counts = KindCounts::of_entities(entities);
            if json {
                writeln!(out, "{}", json!({ "snapshot": { "epoch": epoch, "seq": seq, "counts": counts } }))
            } else {
                writeln!(out, "# snapshot {epoch}:{seq}  {counts}")
            }
        }
        Update::Connection(state) if json => writeln!(out, "{}", json!({ "connection": connection_json(state) })),
        Update::Connection(state) => writeln!(out, "# {}", connection_text(state)),
        _ => Ok(()),
    }
}

fn mode_str(mode: SubscribeMode) -> &'static str {
    match mode {
        SubscribeMode::Replay => "replay",
        SubscribeMode::Snapshot => "snapshot",
    }
}

/// `{"state": …}` plus the state's details.
fn connection_json(state: &ConnectionState) -> serde_json::Value {
    match state {
        ConnectionState::Connecting { server, attempt } => {
            json!({ "state": "connecting", "server": server, "attempt": attempt })
        }
        ConnectionState::Live { server, mode } => json!({ "state": "live", "server": server, "mode": mode_str(*mode) }),
        ConnectionState::Reconnecting { reason, retry_in } => {
            json!({ "state": "reconnecting", "reason": reason, "retry_in_ms": retry_in.as_millis() as u64 })
        }
        ConnectionState::Refused(code) => json!({ "state": "refused", "code": code.as_str() }),
        ConnectionState::Misconfigured { server, reason } => {
            json!({ "state": "misconfigured", "server": server, "reason": reason })
        }
        ConnectionState::Stopped => json!({ "state": "stopped" }),
    }
}

fn connection_text(state: &ConnectionState) -> String {
    match state {
        ConnectionState::Connecting { server, attempt } => format!("connecting to {server} (attempt {attempt})"),
        ConnectionState::Live { server, mode } => format!("live on {server} ({})", mode_str(*mode)),
        ConnectionState::Reconnecting { reason, retry_in } => {
            format!("reconnecting in {:.1}s: {reason}", retry_in.as_secs_f32())
        }
        ConnectionState::Refused(code) => format!("refused: {}", code.as_str()),
        ConnectionState::Misconfigured { server, reason } => format!("cannot use {server}: {reason}"),
        ConnectionState::Stopped => "stopped".to_owned(),
    }
}

/// `seq  ts  type  summary`, for people.
pub fn entry_line(e: &LogEntry) -> String {
    format!("{:>8}  {}  {:<17}  {}", e.seq, iso_utc(e.ts_ms), e.event.type_name(), event_summary(&e.event))
}

fn event_summary(event: &Event) -> String {
    match event {
        Event::DeviceUpserted(d) => format!("{} rev {} \"{}\" {}", d.id, d.rev, d.name, d.status.as_str()),
        Event::PlaylistUpserted(p) => format!("{} rev {} \"{}\" ({} items)", p.id, p.rev, p.name, p.items.len()),
        Event::ContentUpserted(c) => format!("{} rev {} \"{}\" {}", c.id, c.rev, c.name, c.uri),
        Event::ScheduleUpserted(s) => {
            format!(
                "{} rev {} \"{}\" → {}{}",
                s.id,
                s.rev,
                s.name,
                s.playlist_id,
                if s.enabled { "" } else { " (disabled)" }
            )
        }
        Event::AlertUpserted(a) => {
            let on = a.device_id.as_deref().map(|d| format!(" on {d}")).unwrap_or_default();
            format!("{} rev {} {} {}{on} {}", a.id, a.rev, wire(&a.severity), a.kind, wire(&a.state))
        }
        Event::DeviceRemoved(r) | Event::PlaylistRemoved(r) | Event::ContentRemoved(r) | Event::ScheduleRemoved(r) => {
            format!("{} rev {}", r.id, r.rev)
        }
        Event::DeviceStatus(s) => format!("{} rev {} {}", s.id, s.rev, s.status.as_str()),
        Event::ScheduleExecuted(x) => {
            let error = x.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
            format!("{} on {} → {} {}{error}", x.schedule_id, x.device_id, x.playlist_id, wire(&x.outcome))
        }
        Event::MutationApplied(m) => format!("{} {} by {}", m.kind, m.mutation_id, m.client_id),
    }
}

/// The wire name of a unit enum (`"critical"`, `"acked"`, …).
fn wire(v: &impl Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn iso_utc(ts_ms: u64) -> String {
    let (days, ms_of_day) = (ts_ms / 86_400_000, ts_ms % 86_400_000);
    let (y, m, d) = civil_from_days(days as i64);
    let (h, min, s, ms) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60, ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{ms:03}Z")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `vizora state`: takes a fresh snapshot (ignoring `cfg.since` and
/// `cfg.store_path`: a dump must be whole, and leaves no store behind) and
/// writes it to `out` atomically as `{"epoch", "seq", "device": […],
/// "playlist": […], "content": […], "schedule": […], "alert": […]}`, each
/// array sorted by id. The snapshot is consistent as of the subscribe's
/// head, so nothing more is awaited. Fails after `timeout` without one, or
/// at once when the token is refused.
pub fn state(mut cfg: ClientConfig, out: &Path, timeout: Duration) -> Result<StateSummary, CliError> {
    cfg.since = None;
    cfg.store_path = None;
    let servers = cfg.servers.join(", ");
    let handle = spawn(cfg).map_err(CliError::Spawn)?;
    let deadline = Instant::now() + timeout;
    let mut last = "still connecting".to_owned();
    let (epoch, seq, entities) = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let update = match handle.updates.recv_timeout(left) {
            Ok(u) => u,
            Err(RecvTimeoutError::Timeout) => return Err(CliError::Timeout { servers, after: timeout, last }),
            Err(RecvTimeoutError::Disconnected) => return Err(CliError::Stopped(last)),
        };
        match update {
            Update::Snapshot { epoch, seq, entities } => break (epoch, seq, entities),
            Update::Connection(ConnectionState::Refused(code)) => return Err(CliError::Refused { code }),
            Update::Connection(ConnectionState::Misconfigured { server, reason }) => {
                return Err(CliError::Misconfigured { server, reason });
            }
            Update::Connection(ConnectionState::Stopped) => return Err(CliError::Stopped(last)),
            Update::Connection(ConnectionState::Reconnecting { reason, .. }) => last = reason,
            Update::Connection(ConnectionState::Live { server, .. }) => {
                last = format!("subscribed to {server}, snapshot incomplete")
            }
            Update::StoreFailed { message, .. } => last = message,
            _ => {}
        }
    };
    handle.shutdown();
    let view = OrgState::from_entities(entities);
    write_state_file(out, &epoch, seq, &view).map_err(|source| CliError::Write { path: out.to_owned(), source })?;
    Ok(StateSummary { counts: KindCounts::of_state(&view), epoch, seq })
}

fn write_state_file(path: &Path, epoch: &str, seq: u64, view: &OrgState) -> io::Result<()> {
    // BTreeMap values come sorted by id.
    let file = crate::StateFile::of_state(epoch, seq, view);
    write_atomically(path, |w| {
        serde_json::to_writer_pretty(&mut *w, &file).map_err(io::Error::other)?;
        writeln!(w)
    })
}

/// Writes a temp file beside `path`, syncs it and renames it over `path`:
/// readers see the old file or the whole new one, never a part.
fn write_atomically(path: &Path, fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>) -> io::Result<()> {
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let written = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        fill(&mut w)?;
        let f = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    // Makes the rename itself durable; not every platform can open a directory.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_parses_epoch_and_seq() {
        assert_eq!(parse_since("01JD4Z:1042").unwrap(), Position { epoch: "01JD4Z".into(), seq: 1042 });
        // Only the last colon splits: an epoch may contain one.
        assert_eq!(parse_since("a:b:7").unwrap(), Position { epoch: "a:b".into(), seq: 7 });
    }

    #[test]
    fn since_errors_name_the_problem() {
        let cases = [
            ("1042", "no `:`"),
            (":5", "epoch is empty"),
            ("ep:", "seq is empty"),
            ("ep:-1", "not a whole number"),
            ("ep:12x", "not a whole number"),
        ];
        for (input, problem) in cases {
            let msg = parse_since(input).unwrap_err().to_string();
            assert!(msg.starts_with("--since:"), "{input}: {msg}");
            assert!(msg.contains(problem), "{input}: {msg}");
            assert!(msg.contains("EPOCH:SEQ") && msg.contains(input), "{input}: {msg}");
        }
    }

    #[test]
    fn iso_utc_formats_in_utc() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_utc(1_764_230_400_123), "2025-11-27T08:00:00.123Z");
        assert_eq!(iso_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso_utc(951_868_799_999), "2000-02-29T23:59:59.999Z");
    }

    #[test]
    fn plain_line_shows_seq_time_type_and_id() {
        let e: LogEntry = serde_json::from_value(json!({
            "seq": 7, "ts_ms": 1_764_230_400_123u64, "type": "playlist.removed", "data": { "id": "pl-1", "rev": 3 }
        }))
        .unwrap();
        let line = entry_line(&e);
        assert!(line.trim_start().starts_with("7  2025-11-27T08:00:00.123Z  playlist.removed"), "{line}");
        assert!(line.ends_with("pl-1 rev 3"), "{line}");
    }

    #[test]
    fn plain_line_uses_wire_names_and_keeps_ids_as_they_are() {
        let e: LogEntry = serde_json::from_value(json!({
            "seq": 9, "ts_ms": 0, "type": "alert.upserted", "data": {
                "id": "AL-1", "org": "o", "rev": 2, "device_id": "Lobby-3", "severity": "critical",
                "kind": "device_offline", "message": "Offline", "raised_ms": 0, "state": "acked" }
        }))
        .unwrap();
        assert!(entry_line(&e).ends_with("AL-1 rev 2 critical device_offline on Lobby-3 acked"), "{}", entry_line(&e));
    }

    #[test]
    fn refusal_message_names_the_code() {
        let msg = CliError::Refused { code: AuthErrorCode::TokenExpired }.to_string();
        assert!(msg.contains("token_expired"), "{msg}");
    }

    #[test]
    fn atomic_write_replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "old").unwrap();
        let failed = write_atomically(&path, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("crash"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old", "a failed write leaves the old file");
        write_atomically(&path, |w| w.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")], "no temp file left");
    }
}
