// Runs one operation over WebSocket with the graphql-ws client library, as an application
// would, and prints how it ended: the result, or the close code and reason when the server
// refused the connection. Used by tests/it/auth.rs.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, adminSecret, query] = process.argv.slice(2);
const report = (value) => {
  console.log(JSON.stringify(value));
  process.exit(0);
};
let closed = null;
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { headers: { 'x-hasura-admin-secret': adminSecret } },
  retryAttempts: 0,
  on: { closed: (event) => { closed = { code: event.code, reason: event.reason }; } },
});
let data = null;
client.subscribe({ query }, {
  next: (result) => { data = result; },
  error: () => report({ data, closed }),
  complete: () => report({ data, closed }),
});
setTimeout(() => report({ data, closed, timeout: true }), 10000);
