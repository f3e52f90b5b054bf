// Checks the gateway's API documents, and optionally recorded HTTP responses
// against the OpenAPI document.
//
//   node check_specs.mjs --asyncapi PATH --openapi PATH [--responses PATH.jsonl] [--verbose]
//
// (a) parses the AsyncAPI document with @asyncapi/parser: every diagnostic of
//     severity error fails the check (printed with its path); warnings are
//     counted (and listed with --verbose). Message examples are validated
//     against their payload schemas too (the parser's AsyncAPI 3 ruleset does
//     not do it);
// (b) validates the OpenAPI document as OpenAPI 3.1 with
//     @seriousme/openapi-schema-validator (which checks the document's
//     structure but not what is inside Schema Objects), then compiles every
//     Schema Object (components.schemas and the inline ones) as JSON Schema
//     2020-12 with ajv;
// (c) with --responses, checks each recorded response, one JSON object a line:
//       {"method":"GET","path":"/api/v1/devices?status=online","status":200,
//        "content_type":"application/json","body":<json or null>}
//     against the OpenAPI document: the route (query string stripped, literal
//     segments preferred over templated ones), `responses[status]` (then
//     `4XX`-style ranges, then `default`), the media type (parameters such as
//     charset ignored; `*/*`-style keys as a fallback) and the body against
//     its schema (ajv 2020). A route, method, status or media type that is
//     not documented is an "undocumented response". A documented response
//     without content and an empty body is fine. For text/event-stream only
//     the status and media type are checked.
// (d) prints one summary line and exits 0, or lists every failure and exits 1.
// Usage errors exit 64.

import { constants } from "node:fs";
import { access, readFile } from "node:fs/promises";
import { basename } from "node:path";

import { Parser, fromFile } from "@asyncapi/parser";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv from "ajv";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const USAGE = "usage: node check_specs.mjs --asyncapi PATH --openapi PATH [--responses PATH.jsonl] [--verbose]";

function parseArgs(argv) {
  const opts = { verbose: false };
  const takes = new Set(["--asyncapi", "--openapi", "--responses"]);
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    if (arg === "--verbose" && value === undefined) {
      opts.verbose = true;
    } else if (arg === "--help" || arg === "-h") {
      console.log(USAGE);
      process.exit(0);
    } else if (takes.has(arg)) {
      if (value === undefined) {
        value = argv[++i];
      }
      if (value === undefined || value === "") {
        usage(`${arg} needs a value`);
      }
      opts[arg.slice(2)] = value;
    } else {
      usage(`unknown argument \`${argv[i]}\``);
    }
  }
  if (!opts.asyncapi || !opts.openapi) {
    usage("--asyncapi and --openapi are required");
  }
  return opts;
}

function usage(msg) {
  console.error(`${msg}\n${USAGE}`);
  process.exit(64);
}

const failures = [];
function fail(msg) {
  failures.push(msg);
}

/** JSON Pointer (RFC 6901) of a path given as segments. */
function pointer(segments) {
  return `#/${segments.map((s) => String(s).replaceAll("~", "~0").replaceAll("/", "~1")).join("/")}`;
}

// ------------------------------------------------------------------ AsyncAPI

async function checkAsyncApi(path, verbose) {
  const parser = new Parser();
  let document;
  let diagnostics;
  try {
    ({ document, diagnostics } = await fromFile(parser, path).parse());
  } catch (e) {
    fail(`asyncapi: ${path}: cannot parse: ${e?.message ?? e}`);
    return null;
  }
  const where = (d) => {
    const line = d.range?.start?.line;
    return `${pointer(d.path ?? [])}${line === undefined ? "" : ` (line ${line + 1})`}`;
  };
  const errors = diagnostics.filter((d) => d.severity === 0);
  const warnings = diagnostics.filter((d) => d.severity === 1);
  for (const d of errors) {
    fail(`asyncapi: error ${d.code}: ${d.message} at ${where(d)}`);
  }
  if (verbose) {
    for (const d of warnings) {
      console.log(`asyncapi: warning ${d.code}: ${d.message} at ${where(d)}`);
    }
  }
  if (!document) {
    if (errors.length === 0) {
      fail(`asyncapi: ${path}: the parser returned no document`);
    }
    return null;
  }
  const exampleErrors = checkAsyncApiExamples(document);
  return {
    channels: document.channels().length,
    operations: document.operations().length,
    warnings: warnings.length,
    errors: errors.length + exampleErrors,
    version: document.version(),
  };
}

/** Validates every message example's payload against the message's payload schema. */
function checkAsyncApiExamples(document) {
  // AsyncAPI schemas are JSON Schema draft-07 plus extensions (`x-...`, `discriminator`).
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  let errors = 0;
  const messages = document.components().messages().all();
  const seen = new Set(messages.map((m) => m.id()));
  for (const ch of document.channels().all()) {
    for (const m of ch.messages().all()) {
      if (!seen.has(m.id())) {
        seen.add(m.id());
        messages.push(m);
      }
    }
  }
  for (const m of messages) {
    const examples = m.examples().all();
    if (examples.length === 0 || !m.hasPayload()) {
      continue;
    }
    let validate;
    try {
      validate = ajv.compile(m.payload().json());
    } catch (e) {
      fail(`asyncapi: message ${m.id()}: payload schema does not compile: ${e.message}`);
      errors++;
      continue;
    }
    examples.forEach((ex, i) => {
      if (ex.hasPayload() && !validate(ex.payload())) {
        const label = ex.name() ? `\`${ex.name()}\`` : `#${i}`;
        fail(`asyncapi: example ${label} of message ${m.id()} does not match its payload: ${formatAjvErrors(validate.errors)}`);
        errors++;
      }
    });
  }
  return errors;
}

// ------------------------------------------------------------------- OpenAPI

async function checkOpenApi(path) {
  try {
    await access(path, constants.R_OK);
  } catch (e) {
    fail(`openapi: ${path}: cannot read: ${e.message}`);
    return null;
  }
  const validator = new Validator();
  let res;
  try {
    // A path: the validator reads it (JSON or YAML). It takes a string with
    // no newline for a path, so the file's text is not passed.
    res = await validator.validate(path);
  } catch (e) {
    fail(`openapi: ${path}: cannot validate: ${e?.message ?? e}`);
    return null;
  }
  const spec = validator.specification;
  if (!res.valid) {
    const errors = Array.isArray(res.errors) ? res.errors : [res.errors];
    for (const e of errors) {
      if (e && typeof e === "object" && "instancePath" in e) {
        const params = e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : "";
        fail(`openapi: ${e.instancePath || "/"}: ${e.message}${params} (schema ${e.schemaPath})`);
      } else {
        fail(`openapi: ${path}: ${typeof e === "string" ? e : e?.message ?? JSON.stringify(e)}`);
      }
    }
  }
  if (validator.version !== "3.1") {
    const found = spec && typeof spec === "object" ? (spec.openapi ?? spec.swagger) : undefined;
    fail(`openapi: ${path}: expected an OpenAPI 3.1 document, found ${found === undefined ? "no version" : `version ${JSON.stringify(found)}`}`);
    return null;
  }
  return { spec, valid: res.valid };
}

// ----------------------------------------------------- OpenAPI schemas (ajv)

const DEFS_ID = "urn:vizora:openapi:components";

/** Copies a schema, pointing `#/components/schemas/X` refs at the registered defs. */
function rewriteRefs(node) {
  if (Array.isArray(node)) {
    return node.map(rewriteRefs);
  }
  if (node && typeof node === "object") {
    const out = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === "$ref" && typeof v === "string" && v.startsWith("#/components/schemas/")) {
        out[k] = `${DEFS_ID}#/$defs/${v.slice("#/components/schemas/".length)}`;
      } else {
        out[k] = rewriteRefs(v);
      }
    }
    return out;
  }
  return node;
}

function makeAjv(spec) {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictTuples: false, strictRequired: false });
  addFormats(ajv);
  // OpenAPI 3.1 keywords beside JSON Schema 2020-12 (annotations only here).
  ajv.addVocabulary(["discriminator", "xml", "externalDocs", "example"]);
  // OpenAPI data type formats.
  const inRange = (lo, hi) => (n) => Number.isInteger(n) && n >= lo && n <= hi;
  ajv.addFormat("int32", { type: "number", validate: inRange(-(2 ** 31), 2 ** 31 - 1) });
  ajv.addFormat("int64", { type: "number", validate: (n) => Number.isInteger(n) });
  ajv.addFormat("float", { type: "number", validate: (n) => Number.isFinite(n) });
  ajv.addFormat("double", { type: "number", validate: (n) => Number.isFinite(n) });
  ajv.addFormat("password", true);
  ajv.addFormat("binary", true);
  ajv.addFormat("byte", { type: "string", validate: (s) => /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0 });
  const schemas = spec?.components?.schemas ?? {};
  ajv.addSchema({ $id: DEFS_ID, $defs: rewriteRefs(schemas) });
  return ajv;
}

/** Compiles every components.schemas entry once; failures name the schema. */
function compileComponents(ajv, spec) {
  let n = 0;
  for (const name of Object.keys(spec?.components?.schemas ?? {})) {
    try {
      if (!ajv.getSchema(`${DEFS_ID}#/$defs/${name}`)) {
        fail(`openapi: #/components/schemas/${name}: cannot be compiled`);
      }
      n++;
    } catch (e) {
      fail(`openapi: #/components/schemas/${name}: not a valid JSON Schema 2020-12 schema: ${e.message}`);
    }
  }
  return n;
}

/**
 * Compiles every Schema Object outside components.schemas (under `schema` of
 * parameters, headers and media types) once; returns them by JSON Pointer.
 */
function compileInlineSchemas(ajv, spec) {
  const compiled = new Map();
  const walk = (node, path) => {
    if (Array.isArray(node)) {
      node.forEach((v, i) => walk(v, [...path, i]));
      return;
    }
    if (!node || typeof node !== "object") {
      return;
    }
    for (const [k, v] of Object.entries(node)) {
      if (k === "example" || k === "examples") {
        continue; // data, not structure
      }
      if (k === "schema" && v && typeof v === "object") {
        const loc = pointer([...path, k]);
        try {
          compiled.set(loc, ajv.compile(rewriteRefs(v)));
        } catch (e) {
          compiled.set(loc, null);
          fail(`openapi: ${loc}: not a valid JSON Schema 2020-12 schema: ${e.message}`);
        }
        continue; // a schema's own properties may be called `schema`
      }
      walk(v, [...path, k]);
    }
  };
  walk(spec.paths ?? {}, ["paths"]);
  walk(spec.webhooks ?? {}, ["webhooks"]);
  const c = spec.components ?? {};
  for (const part of ["responses", "parameters", "requestBodies", "headers", "pathItems", "callbacks"]) {
    walk(c[part] ?? {}, ["components", part]);
  }
  return compiled;
}

// ------------------------------------------------------------- responses

/** Follows local `$ref`s (not into schemas) to the object they point at. */
function deref(spec, node, seen = new Set()) {
  while (node && typeof node === "object" && typeof node.$ref === "string") {
    const ref = node.$ref;
    if (!ref.startsWith("#/") || seen.has(ref)) {
      return undefined;
    }
    seen.add(ref);
    let target = spec;
    for (const raw of ref.slice(2).split("/")) {
      const seg = decodeURIComponent(raw).replaceAll("~1", "/").replaceAll("~0", "~");
      target = target?.[seg];
    }
    node = target;
  }
  return node;
}

/** Path templates compiled for matching, most literal first at each segment. */
function routeTable(spec) {
  const routes = [];
  for (const template of Object.keys(spec.paths ?? {})) {
    const segments = template.split("/").map((s) => {
      const m = /^\{([^{}]+)\}$/.exec(s);
      if (m) {
        return { param: m[1] };
      }
      if (s.includes("{")) {
        // A segment mixing literal text and a parameter (`{id}.json`).
        const parts = s.split(/(\{[^{}]+\})/).filter(Boolean);
        const re = parts.map((p) => (p.startsWith("{") ? "([^/]+)" : p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("");
        return { mixed: new RegExp(`^${re}$`) };
      }
      return { literal: s };
    });
    routes.push({ template, segments });
  }
  // Rank: at the first segment where two templates differ in kind, literal
  // beats mixed beats a whole-segment parameter.
  const rank = (seg) => (seg.literal !== undefined ? 0 : seg.mixed ? 1 : 2);
  routes.sort((a, b) => {
    const n = Math.min(a.segments.length, b.segments.length);
    for (let i = 0; i < n; i++) {
      const d = rank(a.segments[i]) - rank(b.segments[i]);
      if (d !== 0) {
        return d;
      }
    }
    return a.template < b.template ? -1 : a.template > b.template ? 1 : 0;
  });
  return routes;
}

function matchRoute(routes, path) {
  const parts = path.split("/");
  for (const r of routes) {
    if (r.segments.length !== parts.length) {
      continue;
    }
    let ok = true;
    for (let i = 0; i < parts.length && ok; i++) {
      const seg = r.segments[i];
      let part = parts[i];
      try {
        part = decodeURIComponent(part);
      } catch {
        // leave it as sent
      }
      if (seg.literal !== undefined) {
        ok = seg.literal === part;
      } else if (seg.mixed) {
        ok = seg.mixed.test(part);
      } else {
        ok = part.length > 0;
      }
    }
    if (ok) {
      return r;
    }
  }
  return null;
}

/** Path prefixes of the documented servers (`/api` of `https://h/api`). */
function serverBases(spec) {
  const bases = [];
  for (const s of spec.servers ?? []) {
    try {
      const p = new URL(s.url, "http://localhost").pathname.replace(/\/+$/, "");
      if (p) {
        bases.push(p);
      }
    } catch {
      // a templated server url; ignore
    }
  }
  return bases;
}

function mediaType(ct) {
  return typeof ct === "string" ? ct.split(";")[0].trim().toLowerCase() : "";
}

function findMedia(content, ct) {
  const want = mediaType(ct);
  const keys = Object.keys(content);
  const norm = (k) => mediaType(k);
  const exact = keys.find((k) => norm(k) === want);
  if (exact !== undefined) {
    return exact;
  }
  const [type] = want.split("/");
  return keys.find((k) => norm(k) === `${type}/*`) ?? keys.find((k) => norm(k) === "*/*");
}

function isEmptyBody(body) {
  return body === null || body === undefined || body === "";
}

function formatAjvErrors(errors) {
  return (errors ?? [])
    .map((e) => {
      const params = e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : "";
      return `${e.instancePath || "(body)"} ${e.message}${params} [${e.schemaPath}]`;
    })
    .join("; ");
}

async function checkResponses(file, spec, ajv, compiled) {
  let text;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    fail(`responses: ${file}: cannot read: ${e.message}`);
    return 0;
  }
  const routes = routeTable(spec);
  const bases = serverBases(spec);
  const name = basename(file);
  let checked = 0;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") {
      continue;
    }
    const at = `${name}:${i + 1}`;
    let r;
    try {
      r = JSON.parse(line);
    } catch (e) {
      fail(`${at}: not JSON: ${e.message}`);
      continue;
    }
    if (!r || typeof r !== "object" || typeof r.method !== "string" || typeof r.path !== "string" || !Number.isInteger(r.status)) {
      fail(`${at}: needs {"method": string, "path": string, "status": integer, "content_type", "body"}`);
      continue;
    }
    checked++;
    const method = r.method.toLowerCase();
    let path = r.path.split("#")[0].split("?")[0];
    const ct = r.content_type ?? "";
    const what = `${at} ${r.method.toUpperCase()} ${r.path} → ${r.status}${ct ? ` ${ct}` : ""}`;

    let route = matchRoute(routes, path);
    for (const base of bases) {
      if (route) {
        break;
      }
      if (path === base || path.startsWith(`${base}/`)) {
        path = path.slice(base.length) || "/";
        route = matchRoute(routes, path);
      }
    }
    if (!route) {
      fail(`${what}: undocumented response: no path in the OpenAPI document matches \`${path}\``);
      continue;
    }
    const item = deref(spec, spec.paths[route.template]);
    const op = item?.[method];
    if (!op) {
      fail(`${what}: undocumented response: \`${route.template}\` has no ${r.method.toUpperCase()} operation`);
      continue;
    }
    const responses = op.responses ?? {};
    const range = `${String(r.status)[0]}XX`;
    const statusKey = [String(r.status), range, range.toLowerCase(), "default"].find((k) => k in responses);
    if (statusKey === undefined) {
      fail(`${what}: undocumented response: ${r.method.toUpperCase()} ${route.template} documents no ${r.status} (has ${Object.keys(responses).join(", ") || "none"})`);
      continue;
    }
    const loc = ["paths", route.template, method, "responses", statusKey];
    const resp = deref(spec, responses[statusKey]);
    const content = resp?.content ?? {};
    if (Object.keys(content).length === 0) {
      if (!isEmptyBody(r.body)) {
        fail(`${what}: undocumented response: ${pointer(loc)} documents no content, but the body is not empty`);
      }
      continue;
    }
    if (!ct) {
      if (!isEmptyBody(r.body)) {
        fail(`${what}: a body without a content type (documented: ${Object.keys(content).join(", ")})`);
      } else {
        fail(`${what}: no body, but ${pointer(loc)} documents content (${Object.keys(content).join(", ")})`);
      }
      continue;
    }
    const key = findMedia(content, ct);
    if (key === undefined) {
      fail(`${what}: undocumented response: media type \`${mediaType(ct)}\` is not documented at ${pointer(loc)} (has ${Object.keys(content).join(", ")})`);
      continue;
    }
    if (mediaType(key) === "text/event-stream" || mediaType(ct) === "text/event-stream") {
      continue; // SSE: status and media type only
    }
    const media = deref(spec, content[key]);
    if (!media || media.schema === undefined) {
      continue; // documented without a schema: nothing to validate
    }
    const schemaLoc = pointer([...loc, "content", key, "schema"]);
    let validate = compiled.get(schemaLoc);
    if (validate === undefined) {
      try {
        validate = ajv.compile(rewriteRefs(media.schema));
      } catch (e) {
        validate = null;
        fail(`${what}: the schema at ${schemaLoc} does not compile: ${e.message}`);
      }
      compiled.set(schemaLoc, validate);
    }
    if (validate && !validate(r.body === undefined ? null : r.body)) {
      fail(`${what}: body does not match ${schemaLoc}: ${formatAjvErrors(validate.errors)}`);
    }
  }
  return checked;
}

// ---------------------------------------------------------------------- main

const opts = parseArgs(process.argv.slice(2));
const parts = [];

const asyncapi = await checkAsyncApi(opts.asyncapi, opts.verbose);
if (asyncapi && asyncapi.errors === 0) {
  parts.push(`asyncapi ok (${asyncapi.channels} channels, ${asyncapi.operations} operations, ${asyncapi.warnings} warnings)`);
} else if (asyncapi) {
  parts.push(`asyncapi FAILED (${asyncapi.errors} errors, ${asyncapi.warnings} warnings)`);
} else {
  parts.push("asyncapi FAILED");
}

const openapi = await checkOpenApi(opts.openapi);
let ajv = null;
let inline = new Map();
if (openapi?.spec) {
  try {
    ajv = makeAjv(openapi.spec);
    const before = failures.length;
    compileComponents(ajv, openapi.spec);
    inline = compileInlineSchemas(ajv, openapi.spec);
    if (!openapi.valid || failures.length > before) {
      openapi.valid = false;
    }
  } catch (e) {
    fail(`openapi: components.schemas cannot be registered with ajv: ${e.message}`);
    openapi.valid = false;
  }
}
parts.push(openapi?.valid ? "openapi 3.1 ok" : "openapi FAILED");

if (opts.responses) {
  if (openapi?.spec && ajv) {
    const n = await checkResponses(opts.responses, openapi.spec, ajv, inline);
    parts.push(`${n} responses checked`);
  } else {
    fail(`responses: ${opts.responses}: not checked, the OpenAPI document could not be read`);
    parts.push("responses not checked");
  }
}

for (const f of failures) {
  console.error(`FAIL: ${f}`);
}
console.log(parts.join("; "));
if (failures.length > 0) {
  console.error(`${failures.length} failure${failures.length === 1 ? "" : "s"}`);
  process.exitCode = 1;
}
