// A benchmark that builds namespaces and starts processes removes them however it ends: normally
// (process exit), or on Ctrl-C, SIGTERM or a closed terminal, with a line saying what it removes.
const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;

/** Runs cleanup (synchronous) once on exit or on a signal; `what` names what it removes. */
export function cleanUpOnExit(what: string, cleanup: () => void): void {
  for (const [signal, code] of Object.entries(SIGNALS)) {
    process.once(signal, () => {
      console.error(`\n${signal}: ${what}`);
      cleanup();
      process.exit(128 + code);
    });
  }
  process.once('exit', cleanup);
}
