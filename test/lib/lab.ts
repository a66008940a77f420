// The netns lab for integration tests: see src/lab/driver.ts (shared with the benchmarks).
export { Lab, labScript, type Run } from '../../src/lab/driver.js';
