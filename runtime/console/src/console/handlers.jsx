// WebAssembly handlers: upload a component with its config, list them, and per handler its
// versions (sha, upload and activation time), which actions use it, activation of an older
// version, pinning an action to a version, and deletion (refused while in use).
import { useState } from "react";
import { api } from "./api.js";
import { ActionButton, Badge, ErrorNote, Json, Time, href, shortSha, useLoad } from "./ui.jsx";

export function HandlersPage({ rest }) {
  if (rest[0]) return <HandlerPage name={rest[0]} />;
  return <HandlerList />;
}

function HandlerList() {
  const handlers = useLoad(async () => {
    const { handlers: list } = await api.handlers();
    // Each handler's users, for the list.
    return Promise.all(list.map((h) => api.handler(h.name)));
  }, []);
  return (
    <section>
      <h1>Handlers</h1>
      <Upload onUploaded={handlers.reload} />
      <ErrorNote error={handlers.error} />
      {handlers.data && handlers.data.length === 0 && <p className="muted">No handlers uploaded yet.</p>}
      {handlers.data?.length > 0 && (
        <div className="table-wrap">
          <table data-testid="handlers-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Active version</th>
                <th className="wide-only">Uploaded</th>
                <th className="wide-only">Size</th>
                <th>Used by</th>
              </tr>
            </thead>
            <tbody>
              {handlers.data.map((h) => (
                <tr key={h.name}>
                  <td>
                    <a href={href("handlers", h.name)}>{h.name}</a>
                  </td>
                  <td className="mono">{shortSha(h.sha256)}</td>
                  <td className="wide-only">
                    <Time value={h.uploaded_at} />
                  </td>
                  <td className="wide-only">{(h.size_bytes / 1024).toFixed(0)} KiB</td>
                  <td>{h.used_by.join(", ") || <span className="muted">no action</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Upload({ onUploaded }) {
  const [name, setName] = useState("");
  const [file, setFile] = useState();
  const [config, setConfig] = useState("");
  const [result, setResult] = useState();
  const [error, setError] = useState();
  const [busy, setBusy] = useState(false);
  const upload = async (event) => {
    event.preventDefault();
    setError(undefined);
    setResult(undefined);
    let parsed;
    if (config.trim()) {
      try {
        parsed = JSON.parse(config);
      } catch (caught) {
        setError(Object.assign(new Error(`config is not JSON: ${caught.message}`), { code: "invalid-json" }));
        return;
      }
    }
    setBusy(true);
    try {
      setResult(await api.uploadHandler(name, file, parsed));
      await onUploaded();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card upload" onSubmit={upload} data-testid="upload-form">
      <h2>Upload a component</h2>
      <label className="block">
        <span>Name (actions use it as wasm://name)</span>
        <input name="handler-name" required value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label className="block">
        <span>Component (.wasm, built for wasm32-wasip2)</span>
        <input name="handler-file" type="file" accept=".wasm,application/wasm" required onChange={(e) => setFile(e.target.files[0])} />
      </label>
      <label className="block">
        <span>Config (JSON: allowed_hosts, allow_private_network, memory_limit_mib, max_concurrency, config)</span>
        <textarea name="handler-config" rows={3} spellCheck="false" placeholder='{"allowed_hosts": ["api.example.com"]}' value={config} onChange={(e) => setConfig(e.target.value)} />
      </label>
      <button type="submit" className="primary" disabled={busy || !file}>
        {busy ? "Compiling…" : "Upload"}
      </button>
      <ErrorNote error={error} testId="upload-error" />
      {result && (
        <p className="ok" data-testid="upload-result">
          Uploaded {result.name} version {shortSha(result.sha256)}; it is active.
        </p>
      )}
    </form>
  );
}

function HandlerPage({ name }) {
  const handler = useLoad(() => api.handler(name), [name]);
  const metadata = useLoad(() => api.exportMetadata(), [name]);
  const [deleted, setDeleted] = useState(false);
  const reload = async () => {
    await Promise.all([handler.reload(), metadata.reload()]);
  };
  if (deleted) {
    return (
      <section>
        <p className="ok">Handler {name} deleted. <a href={href("handlers")}>Back to handlers</a></p>
      </section>
    );
  }
  const info = handler.data;
  const users = (metadata.data?.actions ?? []).filter((a) => (info?.used_by ?? []).includes(a.name));
  return (
    <section>
      <p className="crumbs">
        <a href={href("handlers")}>Handlers</a> / {name}
      </p>
      <h1>{name}</h1>
      <ErrorNote error={handler.error} />
      {info && (
        <>
          <h2>Versions</h2>
          <div className="table-wrap">
            <table data-testid="versions-table">
              <thead>
                <tr>
                  <th>sha256</th>
                  <th>Uploaded</th>
                  <th className="wide-only">Activated</th>
                  <th className="wide-only">Size</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {info.versions.map((version) => (
                  <tr key={version.sha256}>
                    <td className="mono" title={version.sha256}>
                      {shortSha(version.sha256)} {version.active && <Badge tone="completed">active</Badge>}
                    </td>
                    <td>
                      <Time value={version.uploaded_at} />
                    </td>
                    <td className="wide-only">
                      <Time value={version.activated_at} />
                    </td>
                    <td className="wide-only">{(version.size_bytes / 1024).toFixed(0)} KiB</td>
                    <td>
                      {!version.active && (
                        <ActionButton action={async () => { await api.activateHandler(name, version.sha256); await reload(); }}>
                          Activate
                        </ActionButton>
                      )}
                      {users.length > 0 && <Pin name={name} version={version} users={users} onPinned={reload} />}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <h2>Used by</h2>
          <ul className="plain">
            {users.map((action) => (
              <li key={action.name}>
                <a href={href("actions", action.name)}>{action.name}</a>{" "}
                <span className="mono muted">{action.definition.handler}</span>
              </li>
            ))}
            {info.used_by.length === 0 && <li className="muted">No action uses it.</li>}
          </ul>
          <h2>Config of the active version</h2>
          <Json value={info.config} />
          <h2>Delete</h2>
          <p>
            <ActionButton
              className="danger"
              testId="delete-handler"
              confirmText={`Delete every version of ${name}?`}
              action={async () => {
                await api.deleteHandler(name);
                setDeleted(true);
              }}
            >
              Delete {name}
            </ActionButton>
          </p>
        </>
      )}
    </section>
  );
}

/** Points one of the handler's actions at this exact version (`wasm://name@sha`). */
function Pin({ name, version, users, onPinned }) {
  const [action, setAction] = useState(users[0].name);
  const target = `wasm://${name}@${shortSha(version.sha256)}`;
  return (
    <span className="pin">
      <select value={action} onChange={(e) => setAction(e.target.value)} aria-label="action to pin">
        {users.map((a) => (
          <option key={a.name}>{a.name}</option>
        ))}
      </select>
      <ActionButton
        action={async () => {
          const chosen = users.find((a) => a.name === action);
          await api.metadata("update_action", {
            name: action,
            definition: { ...chosen.definition, handler: target },
            ...(chosen.comment ? { comment: chosen.comment } : {}),
          });
          await onPinned();
        }}
      >
        Pin
      </ActionButton>
    </span>
  );
}
