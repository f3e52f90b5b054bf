// A stock socket.io-client 4.x (default options: polling first) with a token
// the gateway must refuse. Driven by tests/node_client.rs.
//
//   node refused.mjs <ws://host:port> <token> <expected code>
//
// Expects `connect_error` with err.message === "unauthorized" and
// err.data.code === <expected code> (PROTOCOL.md §2), and no `connect`.
// Prints ONE JSON line with the error on stdout and exits 0; otherwise, or
// after 20 s, exits 1 with `FAIL: ...` on stderr.

import { io } from "socket.io-client";

const TIMEOUT_MS = 20_000;
const [url, token, expected] = process.argv.slice(2);
if (!url || token === undefined || !expected) {
  console.error("usage: node refused.mjs <ws://host:port> <token> <expected code>");
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
setTimeout(() => fail(`no connect_error within ${TIMEOUT_MS} ms`), TIMEOUT_MS).unref();

socket = io(`${url}/wall`, { auth: { token }, reconnection: false });
const transport = socket.io.engine.transport.name;
socket.on("connect", () => fail(`connected (id ${socket.id}) with a token that must be refused`));
socket.on("connect_error", (err) => {
  const seen = { message: err.message, data: err.data ?? null };
  // A CONNECT_ERROR from the server, not a transport failure of the client.
  if (err.type === "TransportError") fail(`transport error, not a refusal: ${err.message} ${err.description ?? ""}`);
  if (err.message !== "unauthorized") fail(`connect_error message ${JSON.stringify(err.message)}, want "unauthorized"`);
  if (err.data?.code !== expected) fail(`connect_error data ${JSON.stringify(err.data)}, want {code: ${JSON.stringify(expected)}}`);
  console.log(JSON.stringify({ ok: true, connect_error: seen, connected: socket.connected, transport }));
  socket.disconnect();
  process.exit(0);
});
