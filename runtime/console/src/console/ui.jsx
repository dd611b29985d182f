// Small pieces every page uses. Everything is rendered as text: React escapes it, and no page
// ever sets HTML from data (a handler's output or log line is shown as the characters it is).
import { useCallback, useEffect, useRef, useState } from "react";

/** The current `#/page/rest?query` route, updated on navigation. */
export function useRoute() {
  const read = () => {
    const hash = location.hash.replace(/^#\/?/, "");
    const [pathPart, queryPart = ""] = hash.split("?");
    const segments = pathPart.split("/").filter(Boolean).map(decodeURIComponent);
    return { page: segments[0] ?? "actions", rest: segments.slice(1), query: new URLSearchParams(queryPart) };
  };
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const changed = () => setRoute(read());
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}

export function href(...segments) {
  return `#/${segments.map(encodeURIComponent).join("/")}`;
}

/**
 * Loads `load()` now, again when `deps` change, and every `every` ms while the page is
 * visible (0: never). Returns the data, the error, and a function to reload at once.
 */
export function useLoad(load, deps, every = 0) {
  const [state, setState] = useState({ data: undefined, error: undefined });
  const latest = useRef(load);
  latest.current = load;
  const reload = useCallback(async () => {
    try {
      const data = await latest.current();
      setState({ data, error: undefined });
    } catch (error) {
      setState((previous) => ({ data: previous.data, error }));
    }
  }, []);
  useEffect(() => {
    reload();
    if (!every) return undefined;
    const timer = setInterval(() => document.visibilityState === "visible" && reload(), every);
    return () => clearInterval(timer);
  }, deps); // eslint-disable-line react-hooks/exhaustive-deps
  return { ...state, reload };
}

/** A refusal, with its code: where it applies when given a `path` filter. */
export function ErrorNote({ error, testId }) {
  if (!error) return null;
  return (
    <p className="error" role="alert" data-testid={testId}>
      {error.code && <code className="code">{error.code}</code>} {error.message}
    </p>
  );
}

export function Json({ value, testId }) {
  if (value === undefined || value === null) return <span className="muted">—</span>;
  return (
    <pre className="json" data-testid={testId}>
      {typeof value === "string" ? value : JSON.stringify(value, null, 2)}
    </pre>
  );
}

export function Badge({ children, tone }) {
  return <span className={`badge ${tone ?? children}`}>{children}</span>;
}

export function Time({ value }) {
  if (!value) return <span className="muted">—</span>;
  const date = new Date(value);
  return (
    <time dateTime={value} title={value}>
      {date.toLocaleString()}
    </time>
  );
}

export function shortSha(sha) {
  return sha ? sha.slice(0, 12) : "";
}

/** A button that runs `action`, shows it is busy, and reports its refusal beside it. */
export function ActionButton({ action, children, confirmText, className, testId }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState();
  return (
    <span className="action-button">
      <button
        type="button"
        className={className}
        disabled={busy}
        data-testid={testId}
        onClick={async () => {
          if (confirmText && !confirm(confirmText)) return;
          setBusy(true);
          setError(undefined);
          try {
            await action();
          } catch (caught) {
            setError(caught);
          } finally {
            setBusy(false);
          }
        }}
      >
        {children}
      </button>
      <ErrorNote error={error} />
    </span>
  );
}
