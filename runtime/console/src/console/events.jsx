// Events: filter by action, status and time; redeliver, replay or delete one or the whole
// selection; and one event's attempts as a timeline with their outcome, status code, duration,
// reason, the guest's log lines and its recorded outbound requests. Both pages refresh
// themselves while open.
import { useState } from "react";

import { api } from "./api.js";
import { ActionButton, Badge, ErrorNote, Json, Time, href, shortSha, useLoad } from "./ui.jsx";

const STATUSES = ["created", "processing", "completed", "error"];
const REFRESH_MS = 2000;

/** `datetime-local` text (local time) as RFC 3339, or undefined. */
function instant(local) {
  if (!local) return undefined;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

function filterFrom(query) {
  return {
    action: query.get("action") ?? "",
    status: query.get("status") ?? "",
    since: query.get("since") ?? "",
    until: query.get("until") ?? "",
  };
}

function apiFilter(filter) {
  return { action: filter.action, status: filter.status, since: instant(filter.since), until: instant(filter.until) };
}

export function EventsPage({ rest, query }) {
  if (rest[0]) return <EventPage id={rest[0]} />;
  return <EventList filter={filterFrom(query)} />;
}

function setFilter(filter) {
  const params = new URLSearchParams(Object.entries(filter).filter(([, v]) => v));
  location.hash = `#/events${params.size ? `?${params}` : ""}`;
}

function EventList({ filter }) {
  const key = JSON.stringify(filter);
  const events = useLoad(() => api.events({ ...apiFilter(filter), limit: 100 }), [key], REFRESH_MS);
  const metadata = useLoad(() => api.exportMetadata(), []);
  const actions = (metadata.data?.actions ?? []).map((a) => a.name);
  const field = (name, control) => (
    <label className="filter-field">
      <span>{name}</span>
      {control}
    </label>
  );
  return (
    <section>
      <h1>Events</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()} data-testid="event-filters">
        {field(
          "Action",
          <select name="action" value={filter.action} onChange={(e) => setFilter({ ...filter, action: e.target.value })}>
            <option value="">any</option>
            {actions.map((name) => (
              <option key={name}>{name}</option>
            ))}
          </select>,
        )}
        {field(
          "Status",
          <select name="status" value={filter.status} onChange={(e) => setFilter({ ...filter, status: e.target.value })}>
            <option value="">any</option>
            {STATUSES.map((status) => (
              <option key={status}>{status}</option>
            ))}
          </select>,
        )}
        {field(
          "Since",
          <input name="since" type="datetime-local" value={filter.since} onChange={(e) => setFilter({ ...filter, since: e.target.value })} />,
        )}
        {field(
          "Until",
          <input name="until" type="datetime-local" value={filter.until} onChange={(e) => setFilter({ ...filter, until: e.target.value })} />,
        )}
      </form>
      <p className="toolbar">
        <ActionButton
          testId="redeliver-selection"
          confirmText="Redeliver every finished asynchronous event of this selection?"
          action={async () => {
            await api.redeliverSelection({ ...apiFilter(filter), limit: 1000 });
            await events.reload();
          }}
        >
          Redeliver selection
        </ActionButton>{" "}
        <ReplaySelection filter={apiFilter(filter)} />{" "}
        <ActionButton
          className="danger"
          confirmText="Delete every finished event of this selection?"
          action={async () => {
            await api.deleteSelection(apiFilter(filter));
            await events.reload();
          }}
        >
          Delete finished in selection
        </ActionButton>
      </p>
      <ErrorNote error={events.error} />
      {events.data && events.data.events.length === 0 && <p className="muted">No events match.</p>}
      {events.data?.events.length > 0 && (
        <div className="table-wrap">
          <table data-testid="events-table">
            <thead>
              <tr>
                <th>Created</th>
                <th>Action</th>
                <th>Status</th>
                <th>Attempts</th>
                <th className="wide-only">Last attempt</th>
              </tr>
            </thead>
            <tbody>
              {events.data.events.map((event) => {
                const last = event.attempt_log.at(-1);
                return (
                  <tr key={event.id} data-event-id={event.id}>
                    <td>
                      <a href={href("events", event.id)}>
                        <Time value={event.created_at} />
                      </a>
                    </td>
                    <td>{event.action_name}</td>
                    <td>
                      <Badge>{event.status}</Badge>
                    </td>
                    <td>{event.attempts}</td>
                    <td className="wide-only">
                      {last ? `${last.outcome}${last.status_code ? ` (${last.status_code})` : ""}` : "—"}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function duration(attempt) {
  const ms = new Date(attempt.finished_at) - new Date(attempt.started_at);
  return Number.isNaN(ms) ? "—" : `${ms} ms`;
}

function EventPage({ id }) {
  const event = useLoad(() => api.event(id), [id], REFRESH_MS);
  const data = event.data;
  return (
    <section>
      <p className="crumbs">
        <a href={href("events")}>Events</a> / <span className="mono">{id}</span>
      </p>
      <ErrorNote error={event.error} />
      {data && (
        <>
          <h1>
            {data.action_name} <Badge>{data.status}</Badge>
          </h1>
          <p className="muted">
            {data.kind} · created <Time value={data.created_at} /> · {data.attempts} attempt(s)
          </p>
          <p className="toolbar">
            {data.kind === "asynchronous" && (
              <ActionButton testId="redeliver" action={async () => { await api.redeliver(id, "same"); await event.reload(); }}>
                Redeliver{data.handler_version ? ` (version ${shortSha(data.handler_version)})` : ""}
              </ActionButton>
            )}{" "}
            {data.kind === "asynchronous" && data.handler_version && (
              <ActionButton testId="redeliver-current" action={async () => { await api.redeliver(id, "current"); await event.reload(); }}>
                Redeliver to the active version
              </ActionButton>
            )}{" "}
            <ActionButton
              className="danger"
              confirmText="Delete this event and its attempts?"
              action={async () => {
                await api.deleteEvent(id);
                location.hash = href("events");
              }}
            >
              Delete
            </ActionButton>
          </p>
          <ReplayPanel id={id} event={data} onRecorded={event.reload} />
          <h2>Attempts</h2>
          <ol className="timeline" data-testid="attempts">
            {data.attempt_log.map((attempt) => (
              <li key={attempt.attempt} className={`attempt ${attempt.outcome}`} data-testid="attempt">
                <div className="attempt-head">
                  <strong>#{attempt.attempt}</strong> <Badge tone={attempt.outcome === "success" ? "completed" : "error"}>{attempt.outcome}</Badge>
                  {attempt.status_code && <span className="mono"> HTTP {attempt.status_code}</span>}
                  {attempt.handler_version && (
                    <span className="mono muted" title={attempt.handler_version}> version {shortSha(attempt.handler_version)}</span>
                  )}
                  <span className="muted"> · {duration(attempt)} · <Time value={attempt.started_at} /></span>
                </div>
                {attempt.detail && <p className="detail">{attempt.detail}</p>}
                {Array.isArray(attempt.http_exchanges) && <Exchanges exchanges={attempt.http_exchanges} />}
                {Array.isArray(attempt.logs) && attempt.logs.length > 0 && (
                  <ul className="logs" data-testid="guest-logs">
                    {attempt.logs.map((line, index) => (
                      <li key={index} className={`log ${line.level ?? ""}`}>
                        <span className="level">{line.level ?? "log"}</span> <span className="message">{line.message ?? JSON.stringify(line)}</span>
                      </li>
                    ))}
                  </ul>
                )}
              </li>
            ))}
            {data.attempt_log.length === 0 && <li className="muted">No attempt yet.</li>}
          </ol>
          <div className="columns">
            <div>
              <h2>Input</h2>
              <Json value={data.input_payload} />
              <h2>Session variables</h2>
              <Json value={data.session_variables} />
            </div>
            <div>
              <h2>Output</h2>
              <Json value={data.response_payload} testId="event-output" />
              <h2>Errors</h2>
              <Json value={data.errors} testId="event-errors" />
            </div>
          </div>
        </>
      )}
    </section>
  );
}

/** The handler choices a replay offers for `event`. */
function handlerChoices(event) {
  const choices = [["current", "the active version"]];
  if (event.handler_version) choices.push(["same", `the version that ran it (${shortSha(event.handler_version)})`]);
  choices.push(["other", "another handler…"]);
  return choices;
}

/** Replay options from the form's state. */
function replayOptions(form) {
  return {
    handler: form.choice === "other" ? form.other.trim() : form.choice,
    mode: form.mode,
    record: form.record,
  };
}

/** The replay form's fields: handler, mode, and (for one event) whether to record. */
function ReplayFields({ form, setForm, choices, withRecord }) {
  return (
    <>
      <label className="filter-field">
        <span>Handler</span>
        <select data-testid="replay-handler" value={form.choice} onChange={(e) => setForm({ ...form, choice: e.target.value })}>
          {choices.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </label>
      {form.choice === "other" && (
        <label className="filter-field">
          <span>wasm://name@sha or URL</span>
          <input data-testid="replay-other" value={form.other} onChange={(e) => setForm({ ...form, other: e.target.value })} />
        </label>
      )}
      <label className="filter-field">
        <span>Outbound requests</span>
        <select data-testid="replay-mode" value={form.mode} onChange={(e) => setForm({ ...form, mode: e.target.value })}>
          <option value="live">go out (live)</option>
          <option value="recorded">answered from the recording</option>
        </select>
      </label>
      {withRecord && (
        <label className="inline">
          <input type="checkbox" data-testid="replay-record" checked={form.record} onChange={(e) => setForm({ ...form, record: e.target.checked })} />
          <span>record as a new attempt</span>
        </label>
      )}
    </>
  );
}

const NEW_FORM = { choice: "current", other: "", mode: "live", record: false };

/** Replays this event and shows the result beside the stored one, with what changed. */
function ReplayPanel({ id, event, onRecorded }) {
  const [form, setForm] = useState(NEW_FORM);
  const [replayed, setReplayed] = useState();
  return (
    <div className="card" data-testid="replay-panel">
      <h2>Replay</h2>
      <p className="muted">
        Runs this event once more and compares the result with the stored one. Nothing is stored unless you record it.
      </p>
      <div className="toolbar">
        <ReplayFields form={form} setForm={setForm} choices={handlerChoices(event)} withRecord />
        <ActionButton
          testId="replay"
          className="primary"
          action={async () => {
            setReplayed(undefined);
            const answer = await api.replay(id, replayOptions(form));
            setReplayed(answer);
            if (answer.recorded) await onRecorded();
          }}
        >
          Replay
        </ActionButton>
      </div>
      {replayed && <ReplayResult replayed={replayed} />}
    </div>
  );
}

function ReplayResult({ replayed }) {
  return (
    <div data-testid="replay-result">
      <p>
        <Badge tone={replayed.outcome === "success" ? "completed" : "error"}>{replayed.outcome}</Badge>{" "}
        <strong data-testid="replay-verdict">{replayed.same ? "same as stored" : "different from stored"}</strong>{" "}
        <span className="mono muted">{replayed.handler}</span> · attempt {replayed.attempt.attempt} · {replayed.attempt.duration_ms} ms
        {replayed.mode === "recorded" && " · from the recording"}
        {replayed.recorded && " · recorded"}
      </p>
      {replayed.attempt.detail && <p className="detail">{replayed.attempt.detail}</p>}
      {!replayed.same && (
        <ul className="plain mono" data-testid="replay-diff">
          {replayed.diff.map((change, index) => (
            <li key={index}>
              {change.op} {change.path}
              {"value" in change && ` → ${JSON.stringify(change.value)}`}
            </li>
          ))}
        </ul>
      )}
      <div className="columns">
        <div>
          <h2>Replayed</h2>
          <Json value={replayed.result} testId="replay-output" />
        </div>
        <div>
          <h2>Stored</h2>
          <Json value={replayed.stored} />
        </div>
      </div>
    </div>
  );
}

/** Replays the whole selection, showing progress as each event's line arrives. */
function ReplaySelection({ filter }) {
  const [open, setOpen] = useState(false);
  const [form, setForm] = useState(NEW_FORM);
  const [progress, setProgress] = useState();
  if (!open) {
    return (
      <button type="button" data-testid="replay-selection" onClick={() => setOpen(true)}>
        Replay selection…
      </button>
    );
  }
  return (
    <div className="card" data-testid="replay-selection-panel">
      <div className="toolbar">
        <ReplayFields form={form} setForm={setForm} choices={[["current", "the active version"], ["same", "the version that ran each"], ["other", "another handler…"]]} />
        <ActionButton
          testId="replay-selection-run"
          className="primary"
          action={async () => {
            const lines = [];
            setProgress({ lines, summary: undefined });
            const summary = await api.replaySelection({ ...filter, limit: 1000 }, replayOptions(form), (line) => {
              lines.push(line);
              setProgress({ lines: [...lines], summary: undefined });
            });
            setProgress({ lines: [...lines], summary });
          }}
        >
          Replay
        </ActionButton>
      </div>
      {progress && (
        <>
          <p data-testid="replay-progress">
            {progress.summary
              ? `${progress.summary.replayed} replayed: ${progress.summary.same} same, ${progress.summary.different} different, ${progress.summary.failed} not replayed`
              : `${progress.lines.length} of ${progress.lines[0]?.total ?? "?"}…`}
          </p>
          <ul className="plain mono" data-testid="replay-lines">
            {progress.lines.map((line) => (
              <li key={line.event_id}>
                <a href={href("events", line.event_id)}>{line.event_id.slice(0, 8)}</a>{" "}
                {line.error ? `not replayed: ${line.error.error}` : `${line.same ? "same" : "different"} (${line.outcome})`}
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

/** An attempt's recorded outbound requests. */
function Exchanges({ exchanges }) {
  return (
    <details className="exchanges" data-testid="exchanges">
      <summary>{exchanges.length} outbound request(s) recorded</summary>
      <ul className="plain mono">
        {exchanges.map((exchange, index) => (
          <li key={index}>
            {exchange.method} {exchange.url} → {exchange.status ?? exchange.error}
          </li>
        ))}
      </ul>
    </details>
  );
}
