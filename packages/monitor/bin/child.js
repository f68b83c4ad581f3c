#!/usr/bin/env node
// The monitor as the listener runs it: the same process as `monitor <container>`, with the
// settings the listener already parsed (JSON in CHECKER_MONITOR_SETTINGS) instead of the CLI
// layer, which would cost every one of a host's monitors its start-up time and memory.

// Loading takes a while on a busy host; a listener that dies meanwhile must not leave this
// process behind, and there is nothing to clean up yet.
const exitEarly = () => process.exit(0);
process.once('disconnect', exitEarly);
const { MONITOR_SETTINGS_ENV, runMonitor } = await import('@checker/core');

const settings = JSON.parse(process.env[MONITOR_SETTINGS_ENV] ?? 'null');
const container = process.argv[2];
if (!settings || !container) {
  process.stderr.write(
    `monitor: bin/child.js is started by the listener (${MONITOR_SETTINGS_ENV} and a container); run bin/run.js instead\n`,
  );
  process.exit(2);
}
// runMonitor takes over the disconnect handling before it first yields.
process.off('disconnect', exitEarly);
// Exit explicitly: the IPC channel to the listener would otherwise keep the process alive.
process.exit(await runMonitor({ ...settings, container }));
