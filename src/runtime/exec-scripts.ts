// The two shell scripts behind an exec task. supervisor.sh runs detached in its own session, starts
// the task's main process and outlives the agent: it records the main pid (with its start time and
// the boot id, so a reused pid is never mistaken for the task), timestamps every stdout and stderr
// line into log files, and writes the exit status when the process ends. run.sh is that main
// process before it becomes the task: already inside the task's network namespace, it unshares a
// mount and UTS namespace, bind-mounts the task's resolv.conf and hosts, mounts sysfs (and proc and
// /dev for a root filesystem), sets the hostname, then execs the command with a clean environment.
// Both are written per task and never changed while they run (bash reads scripts as it goes).

/** The file run.sh writes when the task's namespaces are ready, just before it execs the command. */
export const READY_FILE = 'ready';

/** Exit status of run.sh when preparing the task failed (as Docker's 125: the runtime's own error). */
export const SETUP_FAILED = 125;

/** Docker's default PATH, used when the task's env sets none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Quotes one word for bash: 'it'\''s'. */
export function shQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Arguments: the task's state directory, and the network namespace to run the task in.
 * Files it writes there: pid ("PID STARTTIME BOOTID"), started (epoch seconds), stdout.log and
 * stderr.log ("EPOCH LINE" per line), exit ("CODE EPOCH"), supervisor.log (its own complaints).
 */
export const SUPERVISOR_SCRIPT = `# shoal exec supervisor: runs one task and records what happened (generated; do not edit)
set -u
export LC_ALL=C
dir=$1
netns=$2
cd "$dir" || exit 1
exec </dev/null >>supervisor.log 2>&1

starttime() { # field 22 of /proc/PID/stat; the command name (field 2) may hold spaces
  local s
  s=$(</proc/$1/stat) || return 1
  s=\${s##*) }
  set -- $s
  printf '%s' "\${20}"
}

stamp() { # every line of a stream, prefixed with the time it was read
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    printf '%s %s\\n' "$EPOCHREALTIME" "$line"
  done
}

boot=$(</proc/sys/kernel/random/boot_id)
rm -f exit exit.tmp pid pid.tmp started stdout.pipe stderr.pipe
mkfifo stdout.pipe stderr.pipe || exit 1
stamp <stdout.pipe >>stdout.log &
out=$!
stamp <stderr.pipe >>stderr.log &
err=$!

# Job control gives the main process its own process group, so the whole task can be signalled.
set -m
nsenter --net="$netns" -- unshare --mount --uts --propagation private -- bash "$dir/run.sh" >stdout.pipe 2>stderr.pipe &
main=$!
set +m
printf '%s %s %s\\n' "$main" "$(starttime "$main")" "$boot" >pid.tmp && mv pid.tmp pid
printf '%s\\n' "$EPOCHREALTIME" >started

wait "$main"
code=$?
ended=$EPOCHREALTIME
# What is left of the task goes with its main process, as a container's processes do with its pid 1.
kill -KILL -- "-$main" 2>/dev/null
# Let the loggers drain (at most 2 s: a daemon that left the process group may hold the pipes).
for _ in $(seq 40); do
  kill -0 "$out" 2>/dev/null || kill -0 "$err" 2>/dev/null || break
  sleep 0.05
done
printf '%s %s\\n' "$code" "$ended" >exit.tmp && mv exit.tmp exit
rm -f stdout.pipe stderr.pipe
`;

export interface RunScriptOptions {
  /** The task's state directory (holds resolv.conf, hosts, error). */
  dir: string;
  /** '/' for image 'host', else the root filesystem directory. */
  root: string;
  hostname: string;
  workdir: string;
  /** The complete environment of the task, KEY=value. */
  env: string[];
  /** Command and arguments; the first is looked up in the task's PATH inside root. */
  argv: string[];
  /** Absolute path of util-linux unshare on the node (the task's PATH may not reach it). */
  unshare: string;
}

/** run.sh for one task; every value is quoted, so nothing in the spec is interpreted by bash. */
export function runScript(o: RunScriptOptions): string {
  const q = shQuote;
  const chrooted = o.root !== '/';
  const at = (path: string): string => q(chrooted ? `${o.root}${path}` : path);
  const lines = [
    '# shoal exec task setup, inside the task\'s namespaces (generated; do not edit)',
    'set -u',
    `dir=${q(o.dir)}`,
    `fail() { printf '%s\\n' "$*" >"$dir/error"; printf 'shoal exec: %s\\n' "$*" >&2; exit ${SETUP_FAILED}; }`,
    `mount --bind "$dir/resolv.conf" ${at('/etc/resolv.conf')} || fail 'cannot bind-mount the task resolv.conf on /etc/resolv.conf'`,
    `mount --bind "$dir/hosts" ${at('/etc/hosts')} || fail 'cannot bind-mount the task hosts file on /etc/hosts'`,
  ];
  if (chrooted) {
    lines.push(
      `if [ -d ${at('/proc')} ]; then mount -t proc proc ${at('/proc')} || fail 'cannot mount proc in the root filesystem'; fi`,
      `if [ -d ${at('/sys')} ]; then mount -t sysfs sysfs ${at('/sys')} || fail 'cannot mount sysfs in the root filesystem'; fi`,
      `if [ -d ${at('/dev')} ]; then mount --rbind /dev ${at('/dev')} || fail 'cannot bind /dev into the root filesystem'; fi`,
    );
  } else {
    // A sysfs of this namespace, so /sys/class/net shows the task's own interfaces (as `ip netns exec` does).
    lines.push(`umount -l /sys 2>/dev/null; mount -t sysfs sysfs /sys || fail 'cannot mount sysfs on /sys'`);
  }
  lines.push(
    `printf '%s' ${q(o.hostname)} >/proc/sys/kernel/hostname || fail 'cannot set the hostname'`,
    `: >"$dir/ready" || fail 'cannot write the ready marker'`,
    `exec env -i -- ${o.env.map(q).join(' ')} ${q(o.unshare)} --root=${q(o.root)} --wd=${q(o.workdir)} -- ${o.argv.map(q).join(' ')}`,
    '',
  );
  return lines.join('\n');
}
