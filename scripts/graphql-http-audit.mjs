// The graphql-http audit suite (the GraphQL-over-HTTP spec's conformance
// checks) against a running udesk-calls: prints every audit's result and a
// count per requirement level, and exits 1 on any MUST failure or SHOULD
// warning. scripts/graphql-http-audit.sh installs the package, starts the
// service and runs this; to run it by hand:
//
//   GRAPHQL_HTTP_MODULES=DIR node scripts/graphql-http-audit.mjs http://127.0.0.1:8080/graphql
//
// where DIR holds node_modules/graphql-http (and graphql).

import { createRequire } from 'node:module';
import path from 'node:path';

const url = process.argv[2];
const modules = process.env.GRAPHQL_HTTP_MODULES;
if (!url || !modules) {
  console.error('usage: GRAPHQL_HTTP_MODULES=DIR node graphql-http-audit.mjs URL');
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(modules), 'package.json'));
const { serverAudits } = require('graphql-http');

await waitForServer(url, 30_000);

const counts = {};
let failed = 0;
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  const level = audit.name.split(' ')[0];
  counts[level] ??= { ok: 0, notice: 0, warn: 0, error: 0 };
  counts[level][result.status] += 1;
  const blocking = (level === 'MUST' || level === 'SHOULD') && result.status !== 'ok';
  if (blocking) failed += 1;
  const mark = result.status === 'ok' ? 'ok    ' : result.status.padEnd(6);
  console.log(`${mark} ${audit.id} ${audit.name}`);
  if (result.status !== 'ok') {
    console.log(`       ${result.reason.split('\n').join('\n       ')}`);
  }
}

console.log('');
for (const [level, count] of Object.entries(counts)) {
  const total = count.ok + count.notice + count.warn + count.error;
  console.log(
    `${level.padEnd(6)} ${count.ok}/${total} passed` +
      `, ${count.error} failed, ${count.warn} warnings, ${count.notice} notices`,
  );
}
if (failed > 0) {
  console.log(`\n${failed} MUST or SHOULD audits did not pass`);
  process.exit(1);
}
console.log('\nno MUST failure, no SHOULD warning');

/** Polls until the server answers at all (any status), or gives up. */
async function waitForServer(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fetch(`${url}?query=%7B__typename%7D`);
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        console.error(`the server at ${url} did not answer: ${error.cause ?? error}`);
        process.exit(2);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
