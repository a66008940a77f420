// Runs before the test files (tap `before`): records what exists so the leak check can tell what the run added.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { readLeakState, SNAPSHOT_FILE } from './leak-state.js';

mkdirSync(dirname(SNAPSHOT_FILE), { recursive: true });
writeFileSync(SNAPSHOT_FILE, JSON.stringify(readLeakState(), null, 2));
