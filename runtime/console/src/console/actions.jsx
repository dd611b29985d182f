// Actions: the list (kind, handler, permissions, timeout, retry) and one action's page, where
// its SDL, definition and permissions are edited through the metadata API.
import { useState } from "react";
import { api } from "./api.js";
import { actionSdl, parseActionSdl, typesSdl } from "./sdl.js";
import { ActionButton, Badge, ErrorNote, href, useLoad } from "./ui.jsx";

const DEFAULT_TIMEOUT_SECS = 30;

function retrySummary(definition) {
  const retry = definition.retry;
  const asynchronous = definition.kind === "asynchronous";
  const attempts = retry?.max_attempts ?? (asynchronous ? 5 : 1);
  return attempts === 1 ? "no retries" : `${attempts} attempts${retry ? "" : " (default)"}`;
}

export function ActionsPage({ rest }) {
  const metadata = useLoad(() => api.exportMetadata(), []);
  if (rest[0]) return <ActionPage name={rest[0]} metadata={metadata} />;
  const actions = metadata.data?.actions ?? [];
  return (
    <section>
      <h1>Actions</h1>
      <ErrorNote error={metadata.error} />
      {metadata.data && actions.length === 0 && <p className="muted">No actions yet.</p>}
      {actions.length > 0 && (
        <div className="table-wrap">
          <table data-testid="actions-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Kind</th>
                <th>Handler</th>
                <th>Permissions</th>
                <th className="wide-only">Timeout</th>
                <th className="wide-only">Retry</th>
              </tr>
            </thead>
            <tbody>
              {actions.map(({ name, definition, permissions }) => (
                <tr key={name}>
                  <td>
                    <a href={href("actions", name)}>{name}</a>
                  </td>
                  <td>
                    <Badge tone="neutral">{definition.type ?? "mutation"}</Badge>{" "}
                    <Badge tone="neutral">{definition.kind === "asynchronous" ? "async" : "sync"}</Badge>
                  </td>
                  <td className="mono">{definition.handler}</td>
                  <td>{(permissions ?? []).map((p) => p.role).join(", ") || <span className="muted">admin only</span>}</td>
                  <td className="wide-only">{definition.timeout ?? DEFAULT_TIMEOUT_SECS} s</td>
                  <td className="wide-only">{retrySummary(definition)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** The server's error, shown by the editor its `path` points into. */
function errorFor(error, part) {
  if (!error) return undefined;
  const path = error.path ?? "$";
  const sdlPath = /\.(arguments|output_type|type)\b/.test(path);
  const definitionPath = !sdlPath && /\.definition\b/.test(path);
  if (part === "sdl") return sdlPath || error.local === "sdl" ? error : undefined;
  if (part === "definition") return definitionPath || error.local === "definition" ? error : undefined;
  return !sdlPath && !definitionPath && !error.local ? error : undefined;
}

function ActionPage({ name, metadata }) {
  const action = metadata.data?.actions?.find((a) => a.name === name);
  if (metadata.error) return <ErrorNote error={metadata.error} />;
  if (!metadata.data) return <p className="muted">Loading…</p>;
  if (!action) return <p className="error">No action {name}.</p>;
  return (
    <ActionEditor
      key={action.name}
      action={action}
      customTypes={metadata.data.custom_types}
      reload={metadata.reload}
    />
  );
}

function ActionEditor({ action, customTypes, reload }) {
  const { name, definition } = action;
  const { type, arguments: _args, output_type: _out, ...rest } = definition;
  const [sdl, setSdl] = useState(actionSdl(name, definition));
  const [definitionText, setDefinitionText] = useState(JSON.stringify(rest, null, 2));
  const [comment, setComment] = useState(action.comment ?? "");
  const [error, setError] = useState();
  const [saved, setSaved] = useState(false);
  const [newRole, setNewRole] = useState("");

  const save = async () => {
    setSaved(false);
    setError(undefined);
    let fromSdl;
    let fromJson;
    try {
      fromSdl = parseActionSdl(sdl, name);
    } catch (caught) {
      setError(Object.assign(caught, { code: "invalid-sdl", local: "sdl" }));
      return;
    }
    try {
      fromJson = JSON.parse(definitionText);
    } catch (caught) {
      setError(Object.assign(new Error(`definition is not JSON: ${caught.message}`), { code: "invalid-json", local: "definition" }));
      return;
    }
    try {
      await api.metadata("update_action", {
        name,
        definition: { ...fromJson, ...fromSdl },
        ...(comment ? { comment } : {}),
      });
      setSaved(true);
      await reload();
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <section>
      <p className="crumbs">
        <a href={href("actions")}>Actions</a> / {name}
      </p>
      <h1>{name}</h1>
      <p>
        <a href={`${href("events")}?action=${encodeURIComponent(name)}`}>Events of {name}</a>
      </p>
      <div className="editor-grid">
        <label className="block">
          <span>SDL</span>
          <textarea
            data-testid="action-sdl"
            rows={6}
            spellCheck="false"
            value={sdl}
            onChange={(event) => setSdl(event.target.value)}
          />
          <ErrorNote error={errorFor(error, "sdl")} testId="sdl-error" />
        </label>
        <label className="block">
          <span>Definition (handler, kind, timeout, headers, retry, transforms)</span>
          <textarea
            data-testid="action-definition"
            rows={12}
            spellCheck="false"
            value={definitionText}
            onChange={(event) => setDefinitionText(event.target.value)}
          />
          <ErrorNote error={errorFor(error, "definition")} testId="definition-error" />
        </label>
        <label className="block">
          <span>Comment</span>
          <input value={comment} onChange={(event) => setComment(event.target.value)} />
        </label>
      </div>
      <p>
        <button type="button" className="primary" data-testid="save-action" onClick={save}>
          Save
        </button>{" "}
        {saved && <span className="ok" data-testid="saved">Saved.</span>}
      </p>
      <ErrorNote error={errorFor(error, "other")} testId="action-error" />

      <h2>Types it uses</h2>
      <pre className="json">{typesSdl(definition, customTypes) || "—"}</pre>

      <h2>Permissions</h2>
      <ul className="plain" data-testid="permissions">
        {(action.permissions ?? []).map(({ role }) => (
          <li key={role}>
            {role}{" "}
            <ActionButton
              action={async () => {
                await api.metadata("drop_action_permission", { action: name, role });
                await reload();
              }}
            >
              Remove
            </ActionButton>
          </li>
        ))}
        {(action.permissions ?? []).length === 0 && <li className="muted">Admins only.</li>}
      </ul>
      <form
        className="inline"
        onSubmit={(event) => {
          event.preventDefault();
        }}
      >
        <input placeholder="role" value={newRole} onChange={(event) => setNewRole(event.target.value)} />
        <ActionButton
          action={async () => {
            await api.metadata("create_action_permission", { action: name, role: newRole });
            setNewRole("");
            await reload();
          }}
        >
          Allow role
        </ActionButton>
      </form>
    </section>
  );
}
