// The admin APIs the console is a front end for: the same endpoints the `hookwing` CLI calls,
// with the credential from the login form. Nothing here writes anywhere else.
import { credentialHeaders } from "../shared/credentials.jsx";

/** A refusal from the server: its HTTP status and its stable `code`, `error` and `path`. */
export class ApiError extends Error {
  constructor(status, body) {
    const message =
      (body && typeof body === "object" && (body.error ?? body.message)) ||
      (typeof body === "string" && body) ||
      `HTTP ${status}`;
    super(message);
    this.status = status;
    this.code = body?.code ?? `http-${status}`;
    this.path = body?.path ?? "$";
  }
}

async function call(method, path, { json, body, headers = {} } = {}) {
  const init = { method, headers: { ...credentialHeaders(), ...headers } };
  if (json !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let parsed = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // a text body (the metrics) stays text
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

/** `filter`'s set fields as a query string. */
function query(filter = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(filter)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  return params.toString();
}

/** JSON with every non-ASCII character escaped: the handler config travels in a header. */
function asciiJson(value) {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

const path = (segment) => encodeURIComponent(segment);

/**
 * Replays the events `filter` selects: `onLine` gets each event's line as the server streams
 * it (with `index` and `total`, for progress); resolves to the summary line.
 */
async function replaySelection(filter, options, onLine) {
  const response = await fetch(`/v1/events/replay?${query(filter)}`, {
    method: "POST",
    headers: { ...credentialHeaders(), "content-type": "application/json" },
    body: JSON.stringify(options),
  });
  if (!response.ok) {
    const text = await response.text();
    let body = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: the status says it
    }
    throw new ApiError(response.status, body);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new ApiError(502, { error: "the replay stream ended without its summary", code: "truncated" });
    pending += value;
    let end;
    while ((end = pending.indexOf("\n")) >= 0) {
      const line = JSON.parse(pending.slice(0, end));
      pending = pending.slice(end + 1);
      if (line.done) return line;
      onLine(line);
    }
  }
}

export const api = {
  metadata: (type, args = {}) => call("POST", "/v1/metadata", { json: { type, args } }),
  exportMetadata: () => call("POST", "/v1/metadata", { json: { type: "export_metadata", args: {} } }),

  handlers: () => call("GET", "/v1/handlers"),
  handler: (name) => call("GET", `/v1/handlers/${path(name)}`),
  uploadHandler: (name, file, config) =>
    call("PUT", `/v1/handlers/${path(name)}`, {
      body: file,
      headers: {
        "content-type": "application/wasm",
        ...(config === undefined ? {} : { "x-hookwing-handler-config": asciiJson(config) }),
      },
    }),
  activateHandler: (name, sha256) =>
    call("POST", `/v1/handlers/${path(name)}/versions/${path(sha256)}/activate`),
  deleteHandler: (name) => call("DELETE", `/v1/handlers/${path(name)}`),

  events: (filter) => call("GET", `/v1/events?${query(filter)}`),
  event: (id) => call("GET", `/v1/events/${path(id)}`),
  /** `handler`: `same` (the version that last ran it) or `current` (the active one). */
  redeliver: (id, handler = "same") =>
    call("POST", `/v1/events/${path(id)}/redeliver?${query({ handler })}`),
  redeliverSelection: (filter) => call("POST", `/v1/events/redeliver?${query(filter)}`),
  /** `options`: `{handler, mode, from_attempt, record}` (see the events API). */
  replay: (id, options) => call("POST", `/v1/events/${path(id)}/replay`, { json: options }),
  replaySelection,
  deleteEvent: (id) => call("DELETE", `/v1/events/${path(id)}`),
  deleteSelection: (filter) => call("DELETE", `/v1/events?${query(filter)}`),

  metrics: () => call("GET", "/metrics"),
};
