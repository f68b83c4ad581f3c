// A long-running process for the syslog fault tests: the built logger (as monitor, to syslog
// only) logs `{"n":1}`, `{"n":2}`, … every 100 ms until SIGTERM, then closes it and lets the
// event loop drain: the process must end on its own, with nothing (a socket, a timer) left
// holding it.
import { createLogger } from '../../packages/core/dist/log/logger.js';

const { log, close } = createLogger({
  tool: 'monitor',
  level: 'INFO',
  stdout: false,
  syslog: true,
  container: 'driver',
});
let n = 0;
const timer = setInterval(() => log.info({ n: ++n }, 'line'), 100);
process.once('SIGTERM', () => {
  clearInterval(timer);
  close();
});
