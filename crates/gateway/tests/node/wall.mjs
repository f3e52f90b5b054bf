// A stock socket.io-client 4.x wallboard against the Vizora gateway, with
// DEFAULT options: Engine.IO opens over HTTP long-polling and upgrades to
// WebSocket. Driven by tests/node_client.rs.
//
//   node wall.mjs <ws://host:port> <token> <content-id>
//
// Connects to /wall, subscribes with {since: null}, reads the whole snapshot,
// then says `vizora-node: ready` on stderr and waits for an `events` batch
// with a `content.upserted` of <content-id> (the test makes that change once
// it reads "ready"). Prints ONE JSON line with what it saw on stdout and exits
// 0; any failure, or 20 s without finishing, exits 1 with `FAIL: ...` on
// stderr.

import { io } from "socket.io-client";

const KINDS = ["device", "playlist", "content", "schedule", "alert"];
const TIMEOUT_MS = 20_000;

const [url, token, contentId] = process.argv.slice(2);
if (!url || !token || !contentId) {
  console.error("usage: node wall.mjs <ws://host:port> <token> <content-id>");
  process.exit(64);
}

let socket;
function fail(msg) {
  console.error(`FAIL: ${msg}`);
  try {
    socket?.disconnect();
  } finally {
    process.exit(1);
  }
}
process.on("unhandledRejection", (e) => fail(`unhandled rejection: ${e?.stack ?? e}`));
process.on("uncaughtException", (e) => fail(`uncaught exception: ${e?.stack ?? e}`));
setTimeout(() => fail(`timed out after ${TIMEOUT_MS} ms (stage: ${stage})`), TIMEOUT_MS).unref();

let stage = "connect";
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

// Default options on purpose: transports ["polling", "websocket", ...],
// upgrade: true. Only reconnection is off, so a refusal fails fast.
socket = io(`${url}/wall`, { auth: { token }, reconnection: false });
const engine = socket.io.engine;
const firstTransport = engine.transport.name;
const upgrades = [];
const upgraded = new Promise((resolve) => {
  engine.on("upgrade", (t) => {
    upgrades.push(t.name);
    resolve(t.name);
  });
});
engine.on("upgradeError", (e) => fail(`websocket upgrade failed: ${e?.message ?? e}`));

socket.on("connect_error", (err) =>
  fail(`connect_error: ${err.message} ${JSON.stringify(err.data ?? null)}`),
);
socket.on("disconnect", (reason) => {
  if (stage !== "done") fail(`disconnected (${reason}) during stage ${stage}`);
});
socket.on("error", (e) => fail(`server error event: ${JSON.stringify(e)}`));

// Snapshot pages and live events, listened to before subscribing: the pages
// follow the ack at once (possibly in the same HTTP poll response).
const pages = [];
const lastFor = new Set();
let snapshotDone;
const snapshotComplete = new Promise((r) => (snapshotDone = r));
socket.on("snapshot", (page) => {
  if (!isObj(page) || !KINDS.includes(page.kind) || !Array.isArray(page.items)) {
    fail(`malformed snapshot page: ${JSON.stringify(page)}`);
  }
  pages.push({ kind: page.kind, items: page.items.map((e) => e.id), seq: page.seq, epoch: page.epoch, last: page.last });
  if (page.last === true) lastFor.add(page.kind);
  if (KINDS.every((k) => lastFor.has(k))) snapshotDone();
});

let eventDone;
const eventSeen = new Promise((r) => (eventDone = r));
const entriesSeen = [];
socket.on("events", (batch) => {
  if (!isObj(batch) || typeof batch.epoch !== "string" || !Array.isArray(batch.items)) {
    fail(`malformed events batch: ${JSON.stringify(batch)}`);
  }
  for (const e of batch.items) {
    entriesSeen.push({ seq: e.seq, type: e.type });
    if (e.type === "content.upserted" && e.data?.id === contentId) {
      eventDone({ entry: e, epoch: batch.epoch, transport: engine.transport.name });
    }
  }
});

await new Promise((resolve) => socket.once("connect", resolve));
const transportAtConnect = engine.transport.name;

stage = "upgrade";
if (engine.transport.name !== "websocket") await upgraded;
if (engine.transport.name !== "websocket") fail(`still on ${engine.transport.name} after the upgrade event`);

stage = "subscribe";
const ack = await socket.timeout(5_000).emitWithAck("subscribe", { since: null });
if (
  !isObj(ack) ||
  ack.mode !== "snapshot" ||
  typeof ack.epoch !== "string" ||
  ack.epoch === "" ||
  !Number.isInteger(ack.head_seq)
) {
  fail(`subscribe ack is not {mode: "snapshot", epoch, head_seq}: ${JSON.stringify(ack)}`);
}

stage = "snapshot";
await snapshotComplete;
for (const p of pages) {
  if (p.epoch !== ack.epoch || p.seq !== ack.head_seq) {
    fail(`snapshot page ${JSON.stringify(p)} is not at the ack's epoch/head_seq ${JSON.stringify(ack)}`);
  }
}
const snapshot = Object.fromEntries(KINDS.map((k) => [k, pages.filter((p) => p.kind === k).flatMap((p) => p.items)]));

stage = "event";
console.error("vizora-node: ready");
const got = await eventSeen;

stage = "done";
console.log(
  JSON.stringify({
    ok: true,
    first_transport: firstTransport,
    transport_at_connect: transportAtConnect,
    upgrades,
    socket_id: socket.id,
    ack,
    snapshot,
    snapshot_pages: pages.length,
    event: { seq: got.entry.seq, type: got.entry.type, id: got.entry.data.id, rev: got.entry.data.rev, epoch: got.epoch },
    event_transport: got.transport,
    entries_seen: entriesSeen,
  }),
);
socket.disconnect();
process.exit(0);
