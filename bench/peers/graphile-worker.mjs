// Drains EVENTS user-login jobs with graphile-worker on the given PostgreSQL database, and
// prints the rate: the job-queue peer of Hookwing's async delivery (started by hookwing-bench).
// Usage: node graphile-worker.mjs POSTGRES_URL EVENTS (default | fastest)
//   default: concurrency 64;
//   fastest: concurrency 64 with the local queue and batched completion, the settings the
//   graphile-worker documentation gives for throughput.
import { Logger, makeWorkerUtils, run } from 'graphile-worker';
import { login } from './login.mjs';

const [connectionString, eventsText, mode] = process.argv.slice(2);
const events = Number(eventsText);
// Quiet: a log line per job would measure the terminal.
const logger = new Logger(() => () => {});
const utils = await makeWorkerUtils({ connectionString, logger });
await utils.migrate();
for (let queued = 0; queued < events; queued += 1000) {
  const count = Math.min(1000, events - queued);
  const jobs = Array.from({ length: count }, () => ({
    identifier: 'login',
    payload: { username: 'ada', password: 'secret' },
  }));
  await utils.addJobs(jobs);
}
await utils.release();

let done = 0;
let finish;
const finished = new Promise((resolve) => { finish = resolve; });
const taskList = {
  login: async (payload) => {
    const [status] = login(payload);
    if (status !== 200) throw new Error('rejected');
    done += 1;
    if (done === events) finish();
  },
};
const preset = mode === 'fastest'
  ? { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } }
  : {};
const started = performance.now();
const runner = await run({
  connectionString,
  logger,
  concurrency: 64,
  noHandleSignals: true,
  pollInterval: 1000,
  taskList,
  preset,
});
await finished;
// Stopping waits for the last completions to be written.
await runner.stop();
const seconds = (performance.now() - started) / 1000;
console.log(`hookwing-bench: ${JSON.stringify({ rate: events / seconds })}`);
