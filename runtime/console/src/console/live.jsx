// Live: per action, calls and failures (totals, and the rate since the previous scrape) and
// the queue depth, read from the server's own Prometheus metrics every few seconds.
import { useRef } from "react";
import parsePrometheus from "parse-prometheus-text-format";
import { api } from "./api.js";
import { ErrorNote, useLoad } from "./ui.jsx";

const REFRESH_MS = 3000;

function perAction(families) {
  const byName = Object.fromEntries(families.map((family) => [family.name, family.metrics]));
  const actions = new Map();
  const row = (name) => {
    if (!actions.has(name)) actions.set(name, { calls: 0, failures: 0, waiting: 0, delivering: 0, oldest: 0 });
    return actions.get(name);
  };
  for (const metric of byName.hookwing_action_invocations_total ?? []) {
    const entry = row(metric.labels.action);
    const value = Number(metric.value);
    entry.calls += value;
    if (metric.labels.outcome !== "success") entry.failures += value;
  }
  for (const metric of byName.hookwing_queue_depth ?? []) {
    const entry = row(metric.labels.action);
    if (metric.labels.status === "created") entry.waiting += Number(metric.value);
    if (metric.labels.status === "processing") entry.delivering += Number(metric.value);
  }
  for (const metric of byName.hookwing_queue_oldest_due_age_seconds ?? []) {
    row(metric.labels.action).oldest = Number(metric.value);
  }
  const gauge = (name) => Number(byName[name]?.[0]?.value ?? 0);
  return {
    actions,
    websockets: gauge("hookwing_websocket_connections"),
    subscriptions: gauge("hookwing_subscriptions_active"),
  };
}

export function LivePage() {
  const previous = useRef();
  const metrics = useLoad(async () => {
    const now = performance.now();
    const current = { at: now, ...perAction(parsePrometheus(await api.metrics())) };
    const before = previous.current;
    previous.current = current;
    const seconds = before ? (now - before.at) / 1000 : 0;
    const rate = (name, field) => {
      const then = before?.actions.get(name)?.[field];
      return seconds > 0 && then !== undefined ? (current.actions.get(name)[field] - then) / seconds : undefined;
    };
    return {
      ...current,
      rows: [...current.actions.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, row]) => ({ name, ...row, callRate: rate(name, "calls"), failureRate: rate(name, "failures") })),
    };
  }, [], REFRESH_MS);
  const data = metrics.data;
  const perSecond = (value) => (value === undefined ? "…" : `${value.toFixed(1)}/s`);
  return (
    <section>
      <h1>Live</h1>
      <ErrorNote error={metrics.error} />
      {data && (
        <>
          <p className="muted">
            {data.websockets} WebSocket connection(s), {data.subscriptions} subscription(s). Refreshed every{" "}
            {REFRESH_MS / 1000} s from /metrics.
          </p>
          <div className="table-wrap">
            <table data-testid="live-table">
              <thead>
                <tr>
                  <th>Action</th>
                  <th>Calls</th>
                  <th>Failures</th>
                  <th>Waiting</th>
                  <th className="wide-only">Delivering</th>
                  <th className="wide-only">Oldest due</th>
                </tr>
              </thead>
              <tbody>
                {data.rows.map((row) => (
                  <tr key={row.name} data-action={row.name}>
                    <td>{row.name}</td>
                    <td>
                      <span data-testid="calls">{row.calls}</span> <span className="muted">{perSecond(row.callRate)}</span>
                    </td>
                    <td>
                      <span data-testid="failures">{row.failures}</span> <span className="muted">{perSecond(row.failureRate)}</span>
                    </td>
                    <td data-testid="waiting">{row.waiting}</td>
                    <td className="wide-only">{row.delivering}</td>
                    <td className="wide-only">{row.oldest ? `${row.oldest.toFixed(1)} s` : "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {data.rows.length === 0 && <p className="muted">No action has been called since the server started.</p>}
        </>
      )}
    </section>
  );
}
