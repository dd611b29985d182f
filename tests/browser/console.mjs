// Drives GraphiQL and the console in Debian's chromium with no network but the server's:
// every request elsewhere is refused and recorded. Prints what the pages showed as JSON;
// tests/it/console.rs checks it. Screenshots of each page go to <screenshots-dir>.
// Usage: node console.mjs <hookwing-url> <admin-secret> <screenshots-dir> <hostile.wasm>
//        <login-webhook-url>
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const [base, adminSecret, shots, hostileWasm, loginWebhook] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const report = { offsite: [], pageErrors: [] };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const step = async (name, work) => {
  try {
    return await work();
  } catch (error) {
    throw new Error(`step "${name}": ${error.message}`);
  }
};
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(`${base}/`)) return route.continue();
    report.offsite.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  page.on("dialog", (dialog) => dialog.accept());
  page.on("pageerror", (error) => report.pageErrors.push(String(error)));
  const sockets = [];
  page.on("websocket", (socket) => {
    const seen = { url: socket.url(), received: [] };
    sockets.push(seen);
    socket.on("framereceived", (frame) => seen.received.push(String(frame.payload)));
  });
  const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });

  // ---- GraphiQL ------------------------------------------------------------------------
  const editor = (selector) => `document.querySelector("${selector} .CodeMirror").CodeMirror`;
  const run = async (query) => {
    await page.evaluate(`${editor(".graphiql-query-editor")}.setValue(${JSON.stringify(query)})`);
    await page.evaluate(`${editor(".graphiql-response")}.setValue("")`);
    await page.click(".graphiql-execute-button");
  };
  const responseContaining = async (needle) => {
    await page.waitForFunction(
      (text) => document.querySelector(".graphiql-response .CodeMirror")?.CodeMirror.getValue().includes(text),
      needle,
      { timeout: 20000 },
    );
    return JSON.parse(await page.evaluate(`${editor(".graphiql-response")}.getValue()`));
  };
  await step("graphiql loads", async () => {
    await page.goto(`${base}/`);
    await page.locator(".graphiql-container").waitFor({ timeout: 15000 });
  });
  await step("graphiql credential", async () => {
    await page.fill('header input[name="adminSecret"]', adminSecret);
    await page.fill('header input[name="role"]', "user");
    await page.click('header button[type="submit"]');
    await page.locator('[data-testid="schema-role"]', { hasText: "role user" }).waitFor();
    await page.locator(".graphiql-container").waitFor();
  });
  report.userMutations = await step("schema of role user", async () => {
    await run("{ __schema { mutationType { fields { name } } } }");
    const result = await responseContaining("fields");
    return result.data.__schema.mutationType.fields.map((field) => field.name).sort();
  });
  report.asyncId = await step("graphiql mutation", async () => {
    await run('mutation { asyncLogin(username: "ada") }');
    return (await responseContaining("asyncLogin")).data.asyncLogin;
  });
  report.pushed = await step("graphiql subscription", async () => {
    await run(`subscription { asyncLogin(id: "${report.asyncId}") { id output { accessToken } } }`);
    return (await responseContaining("accessToken")).data.asyncLogin;
  });
  report.sockets = sockets.map(({ url, received }) => ({
    url,
    pushedResult: received.some((frame) => frame.includes('"accessToken"')),
  }));
  await shot("graphiql");
  report.persisted = await step("credential persists", async () => {
    await page.reload();
    await page.locator(".graphiql-container").waitFor();
    return {
      adminSecret: (await page.inputValue('header input[name="adminSecret"]')) === adminSecret,
      role: await page.inputValue('header input[name="role"]'),
    };
  });

  // ---- Console: sign in ----------------------------------------------------------------
  await step("console asks for the secret", async () => {
    await page.evaluate(() => localStorage.clear());
    await page.goto(`${base}/console`);
    await page.locator('[data-testid="login"]').waitFor();
    await shot("console-login");
    await page.fill('[data-testid="login"] input[name="adminSecret"]', adminSecret);
    await page.click('[data-testid="login"] button[type="submit"]');
    await page.locator('[data-testid="actions-table"]').waitFor();
  });
  report.actions = await page.locator('[data-testid="actions-table"] tbody tr').allInnerTexts();
  await shot("console-actions");

  // ---- Console: edit an action, with the server's errors where they apply ---------------
  report.edit = await step("edit flaky", async () => {
    await page.goto(`${base}/console#/actions/flaky`);
    const definitionBox = '[data-testid="action-definition"]';
    await page.locator(definitionBox).waitFor();
    const definition = JSON.parse(await page.inputValue(definitionBox));
    const sdl = await page.inputValue('[data-testid="action-sdl"]');
    await page.fill(definitionBox, JSON.stringify({ ...definition, handler: "wasm://nowhere" }));
    await page.click('[data-testid="save-action"]');
    const definitionError = await page.locator('[data-testid="definition-error"]').innerText();
    await page.fill(definitionBox, JSON.stringify(definition));
    await page.fill('[data-testid="action-sdl"]', sdl.replace("UserInfo", "NoSuchType"));
    await page.click('[data-testid="save-action"]');
    const sdlError = await page.locator('[data-testid="sdl-error"]').innerText();
    await page.fill('[data-testid="action-sdl"]', sdl);
    await page.fill(definitionBox, JSON.stringify({ ...definition, timeout: 7 }));
    await page.click('[data-testid="save-action"]');
    await page.locator('[data-testid="saved"]').waitFor();
    await shot("console-action");
    await page.goto(`${base}/console#/actions`);
    const row = await page.locator('[data-testid="actions-table"] tr', { hasText: "flaky" }).innerText();
    return { sdl, definitionError, sdlError, row };
  });

  // ---- Console: upload a component -----------------------------------------------------
  report.upload = await step("upload", async () => {
    await page.goto(`${base}/console#/handlers`);
    await page.fill('input[name="handler-name"]', "markup");
    await page.setInputFiles('input[name="handler-file"]', hostileWasm);
    await page.fill('textarea[name="handler-config"]', '{"max_concurrency": 4}');
    await page.click('[data-testid="upload-form"] button[type="submit"]');
    const result = await page.locator('[data-testid="upload-result"]').innerText({ timeout: 90000 });
    const rows = await page.locator('[data-testid="handlers-table"] tbody tr').allInnerTexts();
    await shot("console-handlers");
    return { result, rows };
  });

  // ---- Console: a failed event, its attempts and the guest's log lines ------------------
  const eventId = await step("call flaky", async () => {
    const reply = await page.evaluate(async (secret) => {
      const response = await fetch("/v1/graphql", {
        method: "POST",
        headers: { "content-type": "application/json", "x-hasura-admin-secret": secret },
        body: JSON.stringify({ query: 'mutation { flaky(mode: "log-html") }' }),
      });
      return response.json();
    }, adminSecret);
    return reply.data.flaky;
  });
  report.event = await step("failed event", async () => {
    await page.goto(`${base}/console#/events?action=flaky`);
    await page.waitForFunction(
      (id) => document.querySelector(`[data-event-id="${id}"] .badge`)?.textContent === "error",
      eventId,
      { timeout: 30000 },
    );
    await shot("console-events");
    await page.locator(`[data-event-id="${eventId}"] a`).click();
    await page.locator('[data-testid="guest-logs"]').first().waitFor();
    const logs = await page.locator('[data-testid="guest-logs"] li').allInnerTexts();
    const detail = await page.locator('[data-testid="attempt"] .detail').first().innerText();
    const markupElements = await page.evaluate(
      () => document.querySelectorAll("main img, main script, main b, main i").length,
    );
    const xss = await page.evaluate(() => window.__hookwingXss ?? null);
    const attemptsBefore = await page.locator('[data-testid="attempt"]').count();
    await shot("console-event");
    await page.click('[data-testid="redeliver"]');
    await page.waitForFunction(
      (count) => document.querySelectorAll('[data-testid="attempt"]').length > count,
      attemptsBefore,
      { timeout: 30000 },
    );
    const attemptsAfter = await page.locator('[data-testid="attempt"]').count();
    // The whole selection again, from the list.
    await page.goto(`${base}/console#/events?action=flaky&status=error`);
    await page.locator(`[data-event-id="${eventId}"]`).waitFor();
    await page.click('[data-testid="redeliver-selection"]');
    await page.waitForFunction(
      (id) => document.querySelector(`[data-event-id="${id}"] td:nth-child(4)`)?.textContent === "3",
      eventId,
      { timeout: 30000 },
    );
    return { id: eventId, logs, detail, markupElements, xss, attemptsBefore, attemptsAfter, afterSelection: 3 };
  });

  // ---- Console: replay the failed event, then the selection ----------------------------
  report.replay = await step("replay", async () => {
    await page.goto(`${base}/console#/events/${eventId}`);
    await page.locator('[data-testid="replay-panel"]').waitFor();
    const attempts = async () => page.locator('[data-testid="attempt"]').count();
    const before = await attempts();
    const verdict = async () => {
      await page.locator('[data-testid="replay-verdict"]').waitFor({ timeout: 30000 });
      return page.locator('[data-testid="replay-verdict"]').innerText();
    };
    // The active version again: it refuses as before.
    await page.click('[data-testid="replay"]');
    const current = await verdict();
    // Another handler, a webhook: it answers, and the page says what changed.
    await page.selectOption('[data-testid="replay-handler"]', "other");
    await page.fill('[data-testid="replay-other"]', loginWebhook);
    await page.click('[data-testid="replay"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="replay-verdict"]')?.textContent.startsWith("different"), null, { timeout: 30000 });
    const webhook = await verdict();
    const diff = await page.locator('[data-testid="replay-diff"] li').allInnerTexts();
    const output = await page.locator('[data-testid="replay-output"]').innerText();
    await shot("console-replay");
    const unrecorded = await attempts();
    // Recorded: one more attempt on the timeline.
    await page.selectOption('[data-testid="replay-handler"]', "current");
    await page.check('[data-testid="replay-record"]');
    await page.click('[data-testid="replay"]');
    await page.waitForFunction((count) => document.querySelectorAll('[data-testid="attempt"]').length > count, before, { timeout: 30000 });
    const recorded = await attempts();
    // The selection, with progress.
    await page.goto(`${base}/console#/events?action=flaky`);
    await page.locator(`[data-event-id="${eventId}"]`).waitFor();
    await page.click('[data-testid="replay-selection"]');
    await page.click('[data-testid="replay-selection-run"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="replay-progress"]')?.textContent.includes("replayed"), null, { timeout: 30000 });
    const selection = await page.locator('[data-testid="replay-progress"]').innerText();
    const lines = await page.locator('[data-testid="replay-lines"] li').allInnerTexts();
    await shot("console-replay-selection");
    return { before, current, webhook, diff, output, unrecorded, recorded, selection, lines };
  });

  // ---- Console: versions, activation, a refused delete ---------------------------------
  report.handler = await step("handler page", async () => {
    await page.goto(`${base}/console#/handlers/markup`);
    await page.locator('[data-testid="versions-table"]').waitFor();
    const activeBefore = await page.locator('[data-testid="versions-table"] tr', { hasText: "active" }).locator("td").first().getAttribute("title");
    const versions = await page.locator('[data-testid="versions-table"] tbody tr').count();
    await page.getByRole("button", { name: "Activate" }).click();
    await page.waitForFunction(
      (before) => {
        const active = [...document.querySelectorAll('[data-testid="versions-table"] tbody tr')].find((row) =>
          row.textContent.includes("active"),
        );
        return active && active.querySelector("td").title !== before;
      },
      activeBefore,
      { timeout: 15000 },
    );
    const activeAfter = await page.locator('[data-testid="versions-table"] tr', { hasText: "active" }).locator("td").first().getAttribute("title");
    // Pin flaky to the version that is no longer active.
    await page
      .locator('[data-testid="versions-table"] tbody tr', { has: page.locator(`td[title="${activeBefore}"]`) })
      .getByRole("button", { name: "Pin" })
      .click();
    await page.locator(".mono", { hasText: `wasm://markup@${activeBefore.slice(0, 12)}` }).waitFor();
    await page.click('[data-testid="delete-handler"]');
    const refusal = await page.locator(".error", { hasText: "handler-in-use" }).innerText();
    await shot("console-handler");
    return { versions, activeBefore, activeAfter, refusal };
  });

  // ---- Console: live metrics ------------------------------------------------------------
  report.live = await step("live", async () => {
    await page.goto(`${base}/console#/live`);
    const row = page.locator('[data-testid="live-table"] tr[data-action="flaky"]');
    await row.waitFor();
    await shot("console-live");
    return {
      calls: Number(await row.locator('[data-testid="calls"]').innerText()),
      failures: Number(await row.locator('[data-testid="failures"]').innerText()),
    };
  });

  // ---- A phone's screen ----------------------------------------------------------------
  report.phone = await step("phone", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = {};
    for (const [name, hash] of [["events", `#/events?action=flaky`], ["event", `#/events/${eventId}`], ["actions", "#/actions"]]) {
      await page.goto(`${base}/console${hash}`);
      await page.locator("main h1").first().waitFor();
      await page.waitForTimeout(300);
      overflow[name] = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      await shot(`phone-${name}`);
    }
    return overflow;
  });
  console.log(JSON.stringify(report));
} finally {
  await browser.close();
}
