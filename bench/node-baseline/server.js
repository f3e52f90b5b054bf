// Baseline for scripts/bench: the part of the Vizora gateway's job that
// `vizora loadtest` exercises, written the idiomatic Node.js way: one
// process, Socket.IO 4.8, state in memory, room broadcasts for fan-out.
// It speaks PROTOCOL.md for /wall (auth, subscribe with snapshot or replay,
// ordered `events` batches, content.create mutations with duplicate
// detection, metrics once a second) and /device (registration, heartbeats,
// time-driven status with alerts, playback counts, schedule.executed).
// It is a baseline, not a product: no durable store, one mutation kind.
"use strict";

const http = require("node:http");
const crypto = require("node:crypto");
const { Server } = require("socket.io");
const jwt = require("jsonwebtoken");

const SECRET = process.env.VIZORA_JWT_SECRET;
if (!SECRET) {
  console.error("VIZORA_JWT_SECRET is not set");
  process.exit(2);
}
const PORT = Number(process.env.PORT || 0);
const HOST = process.env.HOST || "127.0.0.1";

// The same settings as config/gateway.ron.
const HEARTBEAT_MS = 5000;
const SNAPSHOT_PAGE = 500;
const HISTORY_ENTRIES = 100000;
const HISTORY_MS = 3600 * 1000;
const DECIDED_MS = 25 * 3600 * 1000;
const METRICS_WINDOW_S = 60;
const RATE_PER_S = 1000;
const RATE_BURST = 2000;
const LIMITS = { temp_c_max: 80, disk_free_pct_min: 5, cpu_pct_max: 95, cpu_window_ms: 60000 };
const KINDS = ["device", "playlist", "content", "schedule", "alert"];
const MAX_NAME_CHARS = 256;
const MAX_ID_BYTES = 128;
const MAX_URI_BYTES = 4096;

const httpServer = http.createServer();
const io = new Server(httpServer, {
  maxHttpBufferSize: 1 << 20,
  pingInterval: 10000,
  pingTimeout: 5000,
});
const wall = io.of("/wall");
const device = io.of("/device");

// ---------------------------------------------------------------- org state

const orgs = new Map();

// 26 lowercase characters, time-ordered, like the gateway's lowercase ULIDs.
function newId() {
  return Date.now().toString(32).padStart(10, "0") + crypto.randomBytes(8).toString("hex");
}

function org(id) {
  let o = orgs.get(id);
  if (!o) {
    o = {
      id,
      epoch: newId().toUpperCase(),
      head: 0,
      history: [], // retained entries, oldest first
      entities: { device: new Map(), playlist: new Map(), content: new Map(), schedule: new Map(), alert: new Map() },
      live: new Map(), // device id → { last_seen_ms, cpu_high_since_ms, socket }
      openAlerts: new Map(), // `${device}\0${kind}` → alert id
      decided: new Map(), // `${client_id}\0${mutation_id}` → { ack, ts }
      pending: [], // entries appended in this turn of the event loop
      flushQueued: false,
      telemetryDirty: new Set(),
      window: newWindow(),
    };
    orgs.set(id, o);
  }
  return o;
}

// Appends to the log; everything appended in one turn of the event loop goes
// out as one `events` batch (the gateway batches its commits the same way).
function append(o, type, data, ts_ms = Date.now()) {
  o.head += 1;
  const entry = { seq: o.head, ts_ms, type, data };
  o.history.push(entry);
  o.pending.push(entry);
  if (!o.flushQueued) {
    o.flushQueued = true;
    setImmediate(flush, o);
  }
  return o.head;
}

function flush(o) {
  o.flushQueued = false;
  if (o.pending.length > 0) {
    wall.to(o.id).emit("events", { epoch: o.epoch, items: o.pending });
    o.pending = [];
  }
  // Retain at least HISTORY_ENTRIES entries and at least an hour.
  const excess = o.history.length - HISTORY_ENTRIES;
  if (excess > 4096 && o.history[excess - 1].ts_ms < Date.now() - HISTORY_MS) o.history.splice(0, excess);
}

function record(o, kind, entity, ts_ms) {
  o.entities[kind].set(entity.id, entity);
  return append(o, `${kind}.upserted`, entity, ts_ms);
}

// ---------------------------------------------------------------- auth

function refuse(next, code) {
  const err = new Error("unauthorized");
  err.data = { code };
  next(err);
}

function authenticate(forDevice) {
  return (socket, next) => {
    const token = socket.handshake.auth && socket.handshake.auth.token;
    if (typeof token !== "string" || token === "") return refuse(next, "token_missing");
    let c;
    try {
      c = jwt.verify(token, SECRET, { algorithms: ["HS256"], clockTolerance: 0 });
    } catch (e) {
      return refuse(next, e.name === "TokenExpiredError" ? "token_expired" : "token_invalid");
    }
    if (typeof c.exp !== "number" || typeof c.sub !== "string" || c.sub === "" || typeof c.org !== "string" || c.org === "") {
      return refuse(next, "token_invalid");
    }
    if (!["viewer", "operator", "admin", "device"].includes(c.role)) return refuse(next, "token_invalid");
    if ((c.role === "device") !== forDevice) return refuse(next, "wrong_namespace");
    socket.data.claims = { sub: c.sub, org: c.org, role: c.role, exp: c.exp };
    next();
  };
}

// A token that expires during a connection ends it (timers re-armed past setTimeout's 24.8-day cap).
function expireLater(socket) {
  const left = socket.data.claims.exp * 1000 - Date.now();
  const t = setTimeout(() => {
    if (!socket.connected) return;
    if (socket.data.claims.exp * 1000 > Date.now()) return expireLater(socket);
    socket.emit("error", { code: "token_expired", message: "token expired" });
    socket.disconnect(true);
  }, Math.max(0, Math.min(left, 2 ** 30)));
  socket.once("disconnect", () => clearTimeout(t));
}

// Token bucket per connection, as the gateway's.
function admit(socket) {
  const now = performance.now();
  const b = socket.data.bucket || (socket.data.bucket = { tokens: RATE_BURST, at: now });
  b.tokens = Math.min(RATE_BURST, b.tokens + ((now - b.at) / 1000) * RATE_PER_S);
  b.at = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return true;
  }
  return false;
}

function sendError(socket, code, message) {
  socket.emit("error", { code, message });
}

// Wraps an event handler with the rate limit and the ack check.
function handler(socket, name, needsAck, fn) {
  socket.on(name, (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (!admit(socket)) {
      if (name === "mutate" && ack) return ack({ status: "rejected", code: "rate_limited", message: "over the event rate limit; retry later" });
      const now = Date.now();
      if (!socket.data.lastRateError || now - socket.data.lastRateError >= 1000) {
        socket.data.lastRateError = now;
        sendError(socket, "rate_limited", "over the event rate limit");
      }
      return;
    }
    if (needsAck && !ack) return sendError(socket, "bad_request", `${name} needs an ack id; nothing was applied`);
    fn(args[0], ack);
  });
}

function rejectUnknown(socket, known) {
  socket.onAny((name) => {
    if (!known.includes(name)) sendError(socket, "bad_request", `unknown event \`${name}\` on ${socket.nsp.name}`);
  });
}

// Any namespace but /wall and /device is refused with wrong_namespace.
io.of(/^\/(?!(wall|device)$).*$/).use((_socket, next) => refuse(next, "wrong_namespace"));
io.of("/").use((_socket, next) => refuse(next, "wrong_namespace"));

// ---------------------------------------------------------------- /wall

wall.use(authenticate(false));
wall.on("connection", (socket) => {
  expireLater(socket);
  rejectUnknown(socket, ["subscribe", "mutate"]);
  handler(socket, "subscribe", true, (arg, ack) => subscribe(socket, arg, ack));
  handler(socket, "mutate", true, (arg, ack) => mutate(socket, arg, ack));
});

function subscribe(socket, arg, ack) {
  const since = arg && typeof arg === "object" ? arg.since : undefined;
  const valid =
    since === null ||
    (since && typeof since === "object" && typeof since.epoch === "string" && Number.isInteger(since.seq) && since.seq >= 0);
  if (!valid) return sendError(socket, "bad_request", 'subscribe needs {"since": position|null}');
  const o = org(socket.data.claims.org);
  // Entries appended this turn but not yet broadcast belong to the stream after head: send them first.
  if (o.pending.length > 0) flush(o);
  const oldest = o.history.length > 0 ? o.history[0].seq : o.head + 1;
  const replay = since !== null && since.epoch === o.epoch && since.seq <= o.head && since.seq + 1 >= oldest;
  ack({ mode: replay ? "replay" : "snapshot", epoch: o.epoch, head_seq: o.head });
  if (replay) {
    const from = o.history.length - (o.head - since.seq);
    for (let i = from; i < o.history.length; i += 1000) {
      socket.emit("events", { epoch: o.epoch, items: o.history.slice(i, Math.min(i + 1000, o.history.length)) });
    }
  } else {
    for (const kind of KINDS) {
      const items = [...o.entities[kind].values()];
      const pages = Math.max(1, Math.ceil(items.length / SNAPSHOT_PAGE));
      for (let p = 0; p < pages; p++) {
        const page = items.slice(p * SNAPSHOT_PAGE, (p + 1) * SNAPSHOT_PAGE);
        socket.emit("snapshot", { epoch: o.epoch, seq: o.head, kind, items: page, last: p + 1 === pages });
      }
    }
  }
  // Single-threaded: nothing can be appended between the ack and the join.
  socket.join(o.id);
}

function invalid(field, message) {
  return { status: "rejected", code: "invalid", message: `${field}: ${message}` };
}

function nameError(v) {
  if (typeof v !== "string") return "must be a string";
  if (v.trim() === "") return "must not be empty";
  if ([...v].length > MAX_NAME_CHARS) return `must be at most ${MAX_NAME_CHARS} characters`;
  return null;
}

function contentCreate(o, claims, a, now) {
  if (a === null || a === undefined) a = {};
  if (typeof a !== "object" || Array.isArray(a)) return { reply: invalid("args", "must be an object") };
  let e;
  if (a.id != null && (typeof a.id !== "string" || a.id === "" || Buffer.byteLength(a.id) > MAX_ID_BYTES)) return { reply: invalid("id", `must be 1 to ${MAX_ID_BYTES} bytes`) };
  if ((e = nameError(a.name))) return { reply: invalid("name", e) };
  if (!["image", "video", "web"].includes(a.kind)) return { reply: invalid("kind", "must be image, video or web") };
  if (typeof a.uri !== "string" || a.uri === "" || Buffer.byteLength(a.uri) > MAX_URI_BYTES) return { reply: invalid("uri", `must be 1 to ${MAX_URI_BYTES} bytes`) };
  if (!Number.isInteger(a.duration_s) || a.duration_s <= 0 || a.duration_s > 0xffffffff) return { reply: invalid("duration_s", "must be a whole number of seconds > 0") };
  if (!Number.isInteger(a.size_bytes) || a.size_bytes < 0) return { reply: invalid("size_bytes", "must be an integer ≥ 0") };
  const id = a.id != null ? a.id : newId();
  const current = o.entities.content.get(id);
  if (current) return { reply: { status: "rejected", code: "conflict", message: `content ${id} exists`, current } };
  const entity = { id, org: o.id, rev: 1, name: a.name, kind: a.kind, uri: a.uri, duration_s: a.duration_s, size_bytes: a.size_bytes };
  const seq = record(o, "content", entity, now);
  return { seq, rev: 1 };
}

function mutate(socket, m, ack) {
  const claims = socket.data.claims;
  const o = org(claims.org);
  if (!m || typeof m !== "object") return ack(invalid("mutation", "must be an object"));
  const { mutation_id, client_id, kind } = m;
  if (typeof mutation_id !== "string" || mutation_id === "" || typeof client_id !== "string" || client_id === "") {
    return ack(invalid(typeof mutation_id !== "string" || mutation_id === "" ? "mutation_id" : "client_id", "required"));
  }
  const key = `${client_id}\0${mutation_id}`;
  const seen = o.decided.get(key);
  if (seen) {
    const first = seen.reply;
    return ack(first.status === "applied" ? { status: "duplicate", seq: first.seq, rev: first.rev } : { status: "duplicate" });
  }
  const now = Date.now();
  let reply;
  if (claims.role !== "operator" && claims.role !== "admin") {
    reply = { status: "rejected", code: "forbidden", message: `role ${claims.role} may not mutate` };
  } else if (kind !== "content.create") {
    reply = invalid("kind", `${JSON.stringify(kind)} is not supported by this baseline`);
  } else {
    const r = contentCreate(o, claims, m.args, now);
    if (r.reply) {
      reply = r.reply;
    } else {
      append(o, "mutation.applied", { mutation_id, client_id, kind }, now);
      reply = { status: "applied", seq: r.seq, rev: r.rev };
    }
  }
  o.decided.set(key, { reply, ts: now });
  // In memory, so decided at once: the ack goes out before its events batch (as the gateway's does).
  ack(reply);
}

// ---------------------------------------------------------------- /device

device.use(authenticate(true));
device.on("connection", (socket) => {
  const { org: orgId, sub: id } = socket.data.claims;
  expireLater(socket);
  rejectUnknown(socket, ["heartbeat", "playback", "schedule.executed"]);
  const o = org(orgId);
  const now = Date.now();
  if (!o.entities.device.has(id)) {
    record(o, "device", { id, org: orgId, rev: 1, name: id, tags: [], status: "unknown", last_seen_ms: now }, now);
  }
  let live = o.live.get(id);
  if (!live) o.live.set(id, (live = { last_seen_ms: now, cpu_high_since_ms: null, socket: null }));
  // A second connection of the same device replaces the first.
  if (live.socket && live.socket.id !== socket.id) live.socket.disconnect(true);
  live.socket = socket;
  live.last_seen_ms = now; // a CONNECT counts as a sign of life
  o.entities.device.get(id).last_seen_ms = now;
  reevaluate(o, id, now);
  socket.on("disconnect", () => {
    if (live.socket === socket) live.socket = null;
  });

  handler(socket, "heartbeat", false, (hb) => {
    const h = hb && hb.health;
    if (!h || typeof h !== "object" || !["cpu_pct", "mem_pct", "temp_c", "disk_free_pct", "uptime_s"].every((k) => typeof h[k] === "number")) {
      return sendError(socket, "bad_request", "heartbeat: health is missing or malformed");
    }
    const t = Date.now();
    const d = o.entities.device.get(id);
    if (!d) return;
    live.last_seen_ms = t;
    if (h.cpu_pct > LIMITS.cpu_pct_max) live.cpu_high_since_ms ??= t;
    else live.cpu_high_since_ms = null;
    // Live fields change in place: no rev, no log entry.
    d.last_seen_ms = t;
    d.health = h;
    if (hb.playing) d.playing = hb.playing;
    else delete d.playing;
    o.telemetryDirty.add(id);
    reevaluate(o, id, t);
  });
  handler(socket, "playback", false, (pb) => {
    if (!pb || typeof pb.content_id !== "string" || typeof pb.ok !== "boolean") return sendError(socket, "bad_request", "playback: malformed");
    windowRecord(o.window, Date.now(), pb.content_id, pb.ok);
  });
  handler(socket, "schedule.executed", false, (ev) => {
    if (!ev || typeof ev.schedule_id !== "string" || typeof ev.device_id !== "string") return sendError(socket, "bad_request", "schedule.executed: malformed");
    if (ev.device_id !== id) return sendError(socket, "bad_request", "device_id: must be the token's device");
    append(o, "schedule.executed", ev);
  });
});

function derive(now, live, health) {
  if (now - live.last_seen_ms > 3 * HEARTBEAT_MS) return "offline";
  const cpuLong = live.cpu_high_since_ms !== null && now - live.cpu_high_since_ms >= LIMITS.cpu_window_ms;
  const bad = health && (health.temp_c > LIMITS.temp_c_max || health.disk_free_pct < LIMITS.disk_free_pct_min);
  return bad || cpuLong ? "degraded" : "online";
}

const ALERT_OF = { offline: "device_offline", degraded: "device_degraded" };

function reevaluate(o, id, now) {
  const d = o.entities.device.get(id);
  const live = o.live.get(id);
  if (!d || !live) return;
  const next = derive(now, live, d.health);
  const prev = d.status;
  if (next === prev) return;
  d.rev += 1;
  d.status = next;
  append(o, "device.status", { id, rev: d.rev, status: next, last_seen_ms: d.last_seen_ms }, now);
  if (ALERT_OF[prev]) resolveAlert(o, id, ALERT_OF[prev], now);
  if (ALERT_OF[next]) raiseAlert(o, d, ALERT_OF[next], now);
}

function raiseAlert(o, d, kind, now) {
  const key = `${d.id}\0${kind}`;
  if (o.openAlerts.has(key)) return;
  const critical = kind === "device_offline";
  const alert = {
    id: newId(), org: o.id, rev: 1, device_id: d.id, severity: critical ? "critical" : "warning", kind,
    message: `${d.name} is ${critical ? "offline" : "degraded"}`, raised_ms: now, state: "open",
  };
  o.openAlerts.set(key, alert.id);
  record(o, "alert", alert, now);
}

function resolveAlert(o, deviceId, kind, now) {
  const key = `${deviceId}\0${kind}`;
  const id = o.openAlerts.get(key);
  if (!id) return;
  o.openAlerts.delete(key);
  const a = o.entities.alert.get(id);
  if (!a || a.state === "resolved") return;
  record(o, "alert", { ...a, state: "resolved", rev: a.rev + 1 }, now);
}

// ---------------------------------------------------------------- metrics and ticks

function newWindow() {
  return { buckets: new Map() }; // second → { plays, errors, impressions, content: Map }
}

function windowRecord(w, now, contentId, ok) {
  const s = Math.floor(now / 1000);
  let b = w.buckets.get(s);
  if (!b) w.buckets.set(s, (b = { plays: 0, errors: 0, impressions: 0, content: new Map() }));
  b.impressions += 1;
  if (ok) {
    b.plays += 1;
    b.content.set(contentId, (b.content.get(contentId) || 0) + 1);
  } else b.errors += 1;
}

function windowMetrics(w, now) {
  const from = Math.floor(now / 1000) - METRICS_WINDOW_S;
  let plays = 0, errors = 0, impressions = 0;
  const content = new Map();
  for (const [s, b] of w.buckets) {
    if (s <= from) {
      w.buckets.delete(s);
      continue;
    }
    plays += b.plays;
    errors += b.errors;
    impressions += b.impressions;
    for (const [c, n] of b.content) content.set(c, (content.get(c) || 0) + n);
  }
  const top_content = [...content].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 10).map(([content_id, n]) => ({ content_id, plays: n }));
  return { plays, errors, impressions, top_content };
}

// Time-driven status, every 250 ms as the gateway's tick.
setInterval(() => {
  const now = Date.now();
  for (const o of orgs.values()) {
    for (const d of o.entities.device.values()) {
      if (d.status !== "online" && d.status !== "degraded") continue;
      const live = o.live.get(d.id);
      if (live && derive(now, live, d.health) !== d.status) reevaluate(o, d.id, now);
    }
  }
}, 250);

// Telemetry and metrics once a second to orgs with subscribers; lossy (volatile).
setInterval(() => {
  const now = Date.now();
  for (const o of orgs.values()) {
    const subs = wall.adapter.rooms.get(o.id);
    if (!subs || subs.size === 0) {
      o.telemetryDirty.clear();
      continue;
    }
    if (o.telemetryDirty.size > 0) {
      const devices = [];
      for (const id of o.telemetryDirty) {
        const d = o.entities.device.get(id);
        if (d && d.health) devices.push(d.playing ? { id, health: d.health, playing: d.playing } : { id, health: d.health });
      }
      o.telemetryDirty.clear();
      wall.to(o.id).volatile.emit("telemetry", { ts_ms: now, devices });
    }
    let online = 0, degraded = 0, offline = 0;
    for (const d of o.entities.device.values()) {
      if (d.status === "online") online++;
      else if (d.status === "degraded") degraded++;
      else if (d.status === "offline") offline++;
    }
    wall.to(o.id).volatile.emit("metrics", { ts_ms: now, window_s: METRICS_WINDOW_S, online, degraded, offline, ...windowMetrics(o.window, now) });
  }
}, 1000);

// Decided mutation ids are remembered for 25 hours.
setInterval(() => {
  const before = Date.now() - DECIDED_MS;
  for (const o of orgs.values()) for (const [k, v] of o.decided) if (v.ts < before) o.decided.delete(k);
}, 60000);

httpServer.listen(PORT, HOST, () => {
  console.log(`listening ${httpServer.address().port}`);
});

function shutdown() {
  io.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
