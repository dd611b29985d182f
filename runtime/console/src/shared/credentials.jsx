// The credential the pages call the server with: an admin secret, a JWT, and the role to act
// as. Kept in this browser's localStorage (shared by GraphiQL and the console, as Hasura's
// console keeps its admin secret), and sent only to this server, as request headers.
import { useState } from "react";

const KEY = "hookwing.credentials";

export function loadCredentials() {
  try {
    const stored = JSON.parse(localStorage.getItem(KEY) ?? "{}");
    return typeof stored === "object" && stored !== null ? stored : {};
  } catch {
    return {};
  }
}

export function saveCredentials(credentials) {
  const kept = Object.fromEntries(
    Object.entries(credentials).filter(([, value]) => typeof value === "string" && value !== ""),
  );
  localStorage.setItem(KEY, JSON.stringify(kept));
  return kept;
}

/** The request headers that carry `credentials`, in Hasura's names. */
export function credentialHeaders(credentials = loadCredentials()) {
  const headers = {};
  if (credentials.adminSecret) headers["x-hasura-admin-secret"] = credentials.adminSecret;
  if (credentials.jwt) headers.authorization = `Bearer ${credentials.jwt.replace(/^bearer\s+/i, "")}`;
  if (credentials.role) headers["x-hasura-role"] = credentials.role;
  return headers;
}

/** A form for the credential; `onApply` gets what was saved. */
export function CredentialsForm({ initial, onApply, compact = false, withRole = true }) {
  const [draft, setDraft] = useState(initial ?? loadCredentials());
  const field = (name, label, props = {}) => (
    <label className="credential-field">
      <span>{label}</span>
      <input
        name={name}
        value={draft[name] ?? ""}
        autoComplete="off"
        spellCheck="false"
        onChange={(event) => setDraft({ ...draft, [name]: event.target.value })}
        {...props}
      />
    </label>
  );
  return (
    <form
      className={compact ? "credentials compact" : "credentials"}
      onSubmit={(event) => {
        event.preventDefault();
        onApply(saveCredentials(draft));
      }}
    >
      {field("adminSecret", "Admin secret", { type: "password", placeholder: "x-hasura-admin-secret" })}
      {field("jwt", "JWT", { type: "password", placeholder: "Authorization: Bearer …" })}
      {withRole && field("role", "Role", { placeholder: "x-hasura-role" })}
      <button type="submit">Apply</button>
    </form>
  );
}
