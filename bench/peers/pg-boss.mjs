// Drains EVENTS user-login jobs with pg-boss on the given PostgreSQL database, and prints the
// rate: the job-queue peer of Hookwing's async delivery (started by hookwing-bench).
// Usage: node pg-boss.mjs POSTGRES_URL EVENTS
// pg-boss fetches a batch, works it, completes it and waits for the polling interval before
// it fetches again, so its throughput is batch size × workers ÷ interval: four workers with
// batches of 500 and an interval of half a second, the best setting found here.
import PgBoss from 'pg-boss';
import { login } from './login.mjs';

const [connectionString, eventsText] = process.argv.slice(2);
const events = Number(eventsText);
const boss = new PgBoss({ connectionString, max: 10 });
boss.on('error', (error) => console.error(error));
await boss.start();
await boss.createQueue('login');
for (let queued = 0; queued < events; queued += 1000) {
  const count = Math.min(1000, events - queued);
  await boss.insert(Array.from({ length: count }, () => ({
    name: 'login',
    data: { username: 'ada', password: 'secret' },
  })));
}

let done = 0;
let finish;
const finished = new Promise((resolve) => { finish = resolve; });
const started = performance.now();
for (let worker = 0; worker < 4; worker += 1) {
  await boss.work('login', { batchSize: 500, pollingIntervalSeconds: 0.5 }, async (jobs) => {
    for (const job of jobs) {
      const [status] = login(job.data);
      if (status !== 200) throw new Error('rejected');
    }
    done += jobs.length;
    if (done >= events) finish();
  });
}
await finished;
// Stopping gracefully waits for the last batch's completion to be written.
await boss.stop({ graceful: true, wait: true, close: true });
const seconds = (performance.now() - started) / 1000;
console.log(`hookwing-bench: ${JSON.stringify({ rate: events / seconds })}`);
