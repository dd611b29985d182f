// A page on one origin calls Hookwing on another, as a single-page app on a dev server does:
// a mutation over fetch, an asynchronous action, and its result over a WebSocket
// subscription (graphql-transport-ws). Prints what the page saw as JSON; exits non-zero if
// the browser could not do it. Usage: node cross-origin.mjs <page-url> <hookwing-url>
import { chromium } from "playwright-core";

const [pageUrl, apiUrl] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage();
  await page.goto(pageUrl);
  const seen = await page.evaluate(async (api) => {
    const post = async (query) => {
      const response = await fetch(`${api}/v1/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        credentials: "include",
        body: JSON.stringify({ query }),
      });
      return response.json();
    };
    const sync = await post('mutation { userLogin(username: "ada", password: "pw") { accessToken } }');
    const accepted = await post('mutation { asyncLogin(username: "ada") }');
    const id = accepted.data.asyncLogin;
    const pushed = await new Promise((resolve, reject) => {
      const socket = new WebSocket(`${api.replace("http", "ws")}/v1/graphql`, "graphql-transport-ws");
      const timer = setTimeout(() => reject(new Error("no result pushed")), 15000);
      socket.onerror = () => reject(new Error("WebSocket refused"));
      socket.onopen = () => socket.send(JSON.stringify({ type: "connection_init", payload: {} }));
      socket.onmessage = ({ data }) => {
        const message = JSON.parse(data);
        if (message.type === "connection_ack") {
          socket.send(JSON.stringify({
            id: "1",
            type: "subscribe",
            payload: { query: `subscription { asyncLogin(id: "${id}") { id output { accessToken } } }` },
          }));
        } else if (message.type === "next" && message.payload.data.asyncLogin.output) {
          clearTimeout(timer);
          socket.close();
          resolve(message.payload.data.asyncLogin);
        } else if (message.type === "error") {
          reject(new Error(JSON.stringify(message.payload)));
        }
      };
    });
    return { origin: location.origin, sync, id, pushed };
  }, apiUrl);
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
