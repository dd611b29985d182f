// Events: filter by action, status and time; redeliver or delete one or the whole selection;
// and one event's attempts as a timeline with their outcome, status code, duration, reason
// and the guest's log lines. Both pages refresh themselves while open.
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
