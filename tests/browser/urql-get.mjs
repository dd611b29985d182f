// Runs one query with urql's own client, as an application would, and prints what it sent
// and what it got: used by tests/it/graphql_http.rs.
import { Client, fetchExchange } from '@urql/core';

const [url, query] = process.argv.slice(2);
const methods = [];
const client = new Client({
  url,
  exchanges: [fetchExchange],
  fetch: (input, init) => {
    methods.push(init?.method ?? 'GET');
    return fetch(input, init);
  },
});
const result = await client.query(query, {}).toPromise();
console.log(JSON.stringify({
  methods,
  data: result.data ?? null,
  error: result.error ? String(result.error) : null,
}));
