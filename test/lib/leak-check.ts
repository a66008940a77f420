// Runs after all test files (tap `after`): fails the run if any namespace, link, nft table, container or
// process exists now that did not exist before the run. Processes get a moment to finish exiting.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { leaks, readLeakState, SNAPSHOT_FILE, type LeakState } from './leak-state.js';

const before = JSON.parse(readFileSync(SNAPSHOT_FILE, 'utf8')) as LeakState;
let found = leaks(before, readLeakState());
for (let i = 0; i < 10 && Object.keys(found).length > 0; i++) {
  await sleep(300);
  found = leaks(before, readLeakState());
}
t.same(found, {}, 'the test run left nothing behind (namespaces, links, nft tables, containers, processes)');
