#!/usr/bin/env node
// The monitor as the listener runs it (one child per container, forked with an IPC channel):
// no CLI layer and no etcd client; see @checker/core's monitor/protocol.ts for the
// conversation. It runs one bundled file (scripts/bundle.mjs), compiled through Node's compile
// cache where Node has one (22+), so a monitor boots in a fraction of the time.

// Loading takes a while on a busy host; a listener that dies meanwhile must not leave this
// process behind, and there is nothing to clean up yet.
const exitEarly = () => process.exit(0);
process.once('disconnect', exitEarly);
const { enableCompileCache } = await import('node:module');
enableCompileCache?.();
const { runMonitorChild } = await import('../dist/child.bundle.js');
process.off('disconnect', exitEarly);
if (!process.connected && process.send) process.exit(0);
// Exit explicitly: the IPC channel to the listener would otherwise keep the process alive.
process.exit(await runMonitorChild());
