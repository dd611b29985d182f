// GraphiQL, served by Hookwing itself: queries and mutations over HTTP, subscriptions over the
// same endpoint's WebSocket (graphql-transport-ws), with the credential from the bar above
// the editor. The schema shown is the one of the credential's role: applying a credential
// remounts GraphiQL, which introspects again with it.
import { StrictMode, useMemo, useState } from "react";
import { createRoot } from "react-dom/client";
import { GraphiQL } from "graphiql";
import { createClient } from "graphql-ws";
import { getOperationAST, parse } from "graphql";
import "graphiql/style.css";
import "./graphiql.css";
import { CredentialsForm, credentialHeaders, loadCredentials } from "../shared/credentials.jsx";

const DEFAULT_QUERY = `# Hookwing: actions are mutations and queries answered by webhooks or by
# WebAssembly components. Asynchronous actions return an id; subscribe to it
# for the result:
#
#   subscription { myAction(id: "…") { id output { … } errors } }
#
# The bar above sets the admin secret, JWT and role sent with every request.
`;

function isSubscription({ query, operationName }) {
  try {
    return getOperationAST(parse(query), operationName || undefined)?.operation === "subscription";
  } catch {
    return false; // the server reports the syntax error
  }
}

function webSocketUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/v1/graphql`;
}

/** A fetcher for `credentials`: the headers editor's headers are sent on top of them. */
function makeFetcher(credentials) {
  const base = credentialHeaders(credentials);
  // One WebSocket per set of headers: they are sent once, in `connection_init`.
  const sockets = new Map();
  const socketFor = (headers) => {
    const key = JSON.stringify(headers);
    if (!sockets.has(key)) {
      sockets.set(key, createClient({ url: webSocketUrl(), connectionParams: { headers }, lazy: true }));
    }
    return sockets.get(key);
  };
  return async (params, options) => {
    const headers = { ...base, ...(options?.headers ?? {}) };
    if (isSubscription(params)) {
      return socketFor(headers).iterate({
        query: params.query,
        variables: params.variables ?? undefined,
        operationName: params.operationName ?? undefined,
      });
    }
    const response = await fetch("/v1/graphql", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/graphql-response+json, application/json",
        ...headers,
      },
      body: JSON.stringify(params),
    });
    return response.json();
  };
}

function Page() {
  const [credentials, setCredentials] = useState(loadCredentials);
  const [generation, setGeneration] = useState(0);
  const fetcher = useMemo(() => makeFetcher(credentials), [credentials]);
  const who = credentials.role
    ? `role ${credentials.role}`
    : credentials.adminSecret
      ? "admin"
      : credentials.jwt
        ? "the JWT's default role"
        : "no credential";
  return (
    <div className="page">
      <header className="bar">
        <a className="brand" href="/console">Hookwing</a>
        <CredentialsForm
          compact
          initial={credentials}
          onApply={(saved) => {
            setCredentials(saved);
            setGeneration((n) => n + 1);
          }}
        />
        <span className="who" data-testid="schema-role">schema for {who}</span>
      </header>
      <main className="editor">
        <GraphiQL
          key={generation}
          fetcher={fetcher}
          defaultQuery={DEFAULT_QUERY}
          shouldPersistHeaders
        />
      </main>
    </div>
  );
}

createRoot(document.getElementById("root")).render(
  <StrictMode>
    <Page />
  </StrictMode>,
);
