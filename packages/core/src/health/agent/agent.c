/*
 * checker-agent: runs health-check commands inside a long-lived check sidecar, one at a time,
 * driven over its stdin and answering on its stdout (the sidecar's one `docker attach` stream).
 * It is built without libc (raw system calls, a tiny _start) into a static ELF of a few kB that
 * starts in any root filesystem, `FROM scratch` images included; scripts/build-agent.sh builds
 * it for x86_64 and aarch64 and regenerates ../agent-program.ts, which ships the bytes.
 *
 * Protocol (integers big-endian; packages/core/src/health/agent-protocol.ts is the other end):
 *   in:  'R' u32 N, N bytes of NUL-terminated argv words (N <= 65536)  run a command
 *        'K'                                                          SIGKILL its process group
 *        'P'                                                          answer 'H'
 *        Requests after a 'K' that ended a command wait until its 'X' is out: "K P" is
 *        answered "X H", so a client taking over a sidecar can skip everything before the 'H'.
 *   out: 'H' u32 version      at start and on every 'P'
 *        'O' u32 N, N bytes   output of the running command (stdout and stderr, one pipe)
 *        'X' i32 status       it ended: exit code, or 128 + the signal that ended it
 *        'E' u32 N, N bytes   it could not be started ("ENOENT: ...") and no 'X' follows
 * A malformed stream (unknown type byte, N over the limit) cannot be resynchronised: the agent
 * says why on stderr, kills the command and exits 2, so the client recreates the sidecar.
 * Other exits: 0 at the end of stdin (after killing a running command and sending its 'X'),
 * 3 when stdout cannot be written, 4 when the kernel has no signalfd (Linux < 2.6.27).
 *
 * How the agent waits: SIGCHLD is blocked and read from a signalfd, so one ppoll covers stdin,
 * the command's output and its end; nothing spins. The command is started with fork (clone
 * with SIGCHLD) in its own session, so 'K' kills what it started too, unless that escaped with
 * a session of its own. Its orphans are reparented to the sidecar's init (Docker's tini), which
 * reaps them; with --sweep (see sweep_leftovers) nothing it left survives its end. The agent reads the exec error pipe before going back to its loop, so by the
 * time a 'K' can be read the command is a session leader running the program asked for.
 */

#include <asm/unistd.h>

#define PROTOCOL_VERSION 1
#define MAX_REQUEST 65536
#define MAX_CHUNK 65536

#define O_RDONLY 0
#define O_RDWR 2
#define O_NONBLOCK 04000
#define O_CLOEXEC 02000000
#define AT_FDCWD (-100)
#define F_GETFD 1
#define F_SETFL 4
#define SIGKILL 9
#define SIGPIPE 13
#define SIGCHLD 17
#define SIG_BLOCK 0
#define SIG_SETMASK 2
#define SIG_DFL 0
#define SIG_IGN 1
#define WNOHANG 1
#define POLLIN 1
#define POLLOUT 4

#define EINTR 4
#define EAGAIN 11
#define EACCES 13
#define ENOENT 2
#define ENOTDIR 20
#define ENODEV 19
#define ETIMEDOUT 110
#define ESTALE 116

typedef unsigned long size_t;

struct pollfd {
  int fd;
  short events;
  short revents;
};

/* The kernel's struct sigaction (not libc's): the same layout on x86_64 and aarch64. */
struct kernel_sigaction {
  unsigned long handler;
  unsigned long flags;
  unsigned long restorer;
  unsigned long mask;
};

#if defined(__x86_64__)
__asm__(
    ".text\n"
    ".global _start\n"
    "_start:\n"
    "  xor %ebp, %ebp\n"
    "  mov %rsp, %rdi\n" /* argc, argv..., NULL, envp..., NULL */
    "  and $-16, %rsp\n"
    "  call agent_main\n"
    "  hlt\n");

static long syscall6(long n, long a, long b, long c, long d, long e, long f) {
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
__asm__(
    ".text\n"
    ".global _start\n"
    "_start:\n"
    "  mov x29, #0\n"
    "  mov x30, #0\n"
    "  mov x0, sp\n" /* argc, argv..., NULL, envp..., NULL; sp is 16-byte aligned at entry */
    "  bl agent_main\n"
    "  brk #0\n");

static long syscall6(long n, long a, long b, long c, long d, long e, long f) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc #0"
                   : "+r"(x0)
                   : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                   : "memory");
  return x0;
}
#else
#error "checker-agent is built for x86_64 and aarch64 only"
#endif

#define sys1(n, a) syscall6(n, (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) syscall6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) syscall6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) syscall6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sys5(n, a, b, c, d, e) syscall6(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

/* gcc may call these for copies and clears even in freestanding code. */
void *memset(void *dst, int c, size_t n) {
  unsigned char *d = dst;
  while (n--) *d++ = (unsigned char)c;
  return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  if (d < s) {
    while (n--) *d++ = *s++;
  } else {
    while (n--) d[n] = s[n];
  }
  return dst;
}

void *memcpy(void *dst, const void *src, size_t n) { return memmove(dst, src, n); }

static char **environ;
static int child_pid;    /* the running command, 0 when idle */
static int output_fd = -1; /* read end of its output pipe while it may still write */
static int signal_fd;
/* A 'K' ended the command and its 'X' is not out yet: the requests after the 'K' wait, so that
 * whatever they bring (an 'H' to a 'P' above all) comes after that 'X'. */
static int killing;

static unsigned char input[5 + MAX_REQUEST];
static size_t input_len;
static unsigned char output[5 + MAX_CHUNK];
/* Every byte of a request could end a word: at most MAX_REQUEST words, then the NULL. */
static char *words[MAX_REQUEST + 1];
static char exec_path[4096];

static void put_be32(unsigned char *p, unsigned v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

static size_t length(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

static void kill_command(void) {
  if (child_pid) sys2(__NR_kill, -child_pid, SIGKILL);
}

/* Started with --sweep (as the monitor starts it, in a check sidecar of its own whose pid
 * namespace has Docker's init as PID 1 and the agent as its child), the agent kills whatever a
 * command left running once the command has ended: a background process of a check, or one
 * that escaped its session. kill(-1) reaches every process of the namespace but its init and
 * the agent itself. Never without --sweep, and never unless the parent is PID 1: run anywhere
 * else, kill(-1) would reach far more than a sidecar. */
static int sweep;

static void sweep_leftovers(void) {
  if (sweep && sys1(__NR_getppid, 0) == 1) sys2(__NR_kill, -1, SIGKILL);
}

static void __attribute__((noreturn)) quit(int status) {
  for (;;) sys1(__NR_exit_group, status);
}

/* stdout is the monitor's only view of the agent: if it is gone there is nothing left to do. */
static void write_all(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    long r = sys3(__NR_write, fd, p, n);
    if (r > 0) {
      p += r;
      n -= (size_t)r;
    } else if (r == -EAGAIN) {
      struct pollfd w = {fd, POLLOUT, 0};
      sys5(__NR_ppoll, &w, 1, 0, 0, 8);
    } else if (r != -EINTR) {
      if (fd == 1) {
        kill_command();
        quit(3);
      }
      return;
    }
  }
}

static void send_frame(unsigned char type, unsigned value) {
  unsigned char frame[5];
  frame[0] = type;
  put_be32(frame + 1, value);
  write_all(1, frame, 5);
}

static void protocol_error(const char *why) {
  static const char prefix[] = "checker-agent: protocol error: ";
  write_all(2, (const unsigned char *)prefix, sizeof prefix - 1);
  write_all(2, (const unsigned char *)why, length(why));
  write_all(2, (const unsigned char *)"\n", 1);
  kill_command();
  quit(2);
}

static const struct {
  int number;
  const char *text; /* "NAME: description" */
} errors[] = {
    {1, "EPERM: operation not permitted"},
    {2, "ENOENT: no such file or directory"},
    {5, "EIO: input/output error"},
    {7, "E2BIG: argument list too long"},
    {8, "ENOEXEC: exec format error"},
    {11, "EAGAIN: resource temporarily unavailable"},
    {12, "ENOMEM: cannot allocate memory"},
    {13, "EACCES: permission denied"},
    {16, "EBUSY: device or resource busy"},
    {20, "ENOTDIR: not a directory"},
    {21, "EISDIR: is a directory"},
    {22, "EINVAL: invalid argument"},
    {23, "ENFILE: too many open files in system"},
    {24, "EMFILE: too many open files"},
    {26, "ETXTBSY: text file busy"},
    {36, "ENAMETOOLONG: file name too long"},
    {40, "ELOOP: too many levels of symbolic links"},
    {80, "ELIBBAD: accessing a corrupted shared library"},
};

/* 'E': "<errno name>: <description>: <what>", e.g. "ENOENT: no such file or directory: wget". */
static void send_error(int number, const char *what) {
  unsigned char *msg = output + 5;
  size_t n = 0;
  const char *text = 0;
  for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
    if (errors[i].number == number) text = errors[i].text;
  }
  if (text) {
    while (*text) msg[n++] = (unsigned char)*text++;
  } else {
    static const char unknown[] = "errno ";
    char digits[12];
    int d = 0;
    unsigned v = (unsigned)number;
    for (const char *u = unknown; *u;) msg[n++] = (unsigned char)*u++;
    do digits[d++] = (char)('0' + v % 10); while (v /= 10);
    while (d) msg[n++] = (unsigned char)digits[--d];
  }
  msg[n++] = ':';
  msg[n++] = ' ';
  /* keep it short: the words of a request may be up to 64 KiB */
  for (size_t i = 0; what[i] && i < 256; i++) msg[n++] = (unsigned char)what[i];
  output[0] = 'E';
  put_be32(output + 1, (unsigned)n);
  write_all(1, output, 5 + n);
}

static const char *path_variable(void) {
  for (char **e = environ; *e; e++) {
    const char *v = *e;
    if (v[0] == 'P' && v[1] == 'A' && v[2] == 'T' && v[3] == 'H' && v[4] == '=') return v + 5;
  }
  return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}

/* execvp's search, without its ENOEXEC fallback to /bin/sh (runc does none either). */
static int exec_command(char **argv) {
  const char *file = argv[0];
  if (!file[0]) return ENOENT;
  for (const char *c = file; *c; c++) {
    if (*c == '/') return (int)-sys3(__NR_execve, file, argv, environ);
  }
  size_t file_len = length(file);
  int denied = 0;
  int last = ENOENT;
  const char *p = path_variable();
  for (;;) {
    const char *end = p;
    while (*end && *end != ':') end++;
    size_t dir_len = (size_t)(end - p);
    if (dir_len + 1 + file_len + 1 <= sizeof exec_path) {
      size_t n = 0;
      for (const char *d = p; d < end; d++) exec_path[n++] = *d;
      if (n) exec_path[n++] = '/'; /* an empty entry is the working directory */
      for (const char *f = file; *f; f++) exec_path[n++] = *f;
      exec_path[n] = 0;
      int e = (int)-sys3(__NR_execve, exec_path, argv, environ);
      if (e == EACCES) {
        denied = 1;
      } else if (e != ENOENT && e != ENOTDIR && e != ESTALE && e != ENODEV && e != ETIMEDOUT) {
        return e;
      }
      last = e == EACCES ? last : e;
    }
    if (!*end) break;
    p = end + 1;
  }
  return denied ? EACCES : last;
}

static void __attribute__((noreturn)) run_child(char **argv, int out_write, int err_write) {
  unsigned long none = 0;
  struct kernel_sigaction dfl = {SIG_DFL, 0, 0, 0};
  sys1(__NR_setsid, 0);
  /* what the agent changed for itself must not reach the command: exec keeps both */
  sys4(__NR_rt_sigprocmask, SIG_SETMASK, &none, 0, 8);
  sys4(__NR_rt_sigaction, SIGPIPE, &dfl, 0, 8);
  long null = sys4(__NR_openat, AT_FDCWD, "/dev/null", O_RDONLY, 0);
  if (null < 0) {
    sys1(__NR_close, 0);
  } else if (null != 0) {
    sys3(__NR_dup3, null, 0, 0);
    sys1(__NR_close, null);
  }
  /* out_write > 2: fds 0-2 are held open since the start, so pipe2 never returns them */
  sys3(__NR_dup3, out_write, 1, 0);
  sys3(__NR_dup3, out_write, 2, 0);
  int e = exec_command(argv);
  sys3(__NR_write, err_write, &e, sizeof e);
  quit(127);
}

static void run(unsigned char *request, size_t n) {
  if (child_pid) {
    send_error(16, "a command is already running");
    return;
  }
  if (n == 0 || request[n - 1] != 0) {
    send_error(22, "a request is NUL-terminated words");
    return;
  }
  size_t argc = 0;
  words[argc++] = (char *)request;
  for (size_t i = 0; i + 1 < n; i++) {
    if (request[i] == 0) words[argc++] = (char *)request + i + 1;
  }
  words[argc] = 0;

  int out[2], err[2];
  long r = sys2(__NR_pipe2, out, O_CLOEXEC);
  if (r < 0) {
    send_error((int)-r, "pipe2");
    return;
  }
  r = sys2(__NR_pipe2, err, O_CLOEXEC);
  if (r < 0) {
    sys1(__NR_close, out[0]);
    sys1(__NR_close, out[1]);
    send_error((int)-r, "pipe2");
    return;
  }
  long pid = sys5(__NR_clone, SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) run_child(words, out[1], err[1]);
  sys1(__NR_close, out[1]);
  sys1(__NR_close, err[1]);
  if (pid < 0) {
    sys1(__NR_close, out[0]);
    sys1(__NR_close, err[0]);
    send_error((int)-pid, "fork");
    return;
  }
  /* EOF: exec succeeded (the pipe is close-on-exec); 4 bytes: the errno exec failed with */
  int e = 0;
  do r = sys3(__NR_read, err[0], &e, sizeof e); while (r == -EINTR);
  sys1(__NR_close, err[0]);
  if (r == sizeof e) {
    int status;
    while (sys4(__NR_wait4, pid, &status, 0, 0) == -EINTR) {
    }
    sys1(__NR_close, out[0]);
    send_error(e, words[0]);
    return;
  }
  sys3(__NR_fcntl, out[0], F_SETFL, O_NONBLOCK);
  output_fd = out[0];
  child_pid = (int)pid;
}

/* One chunk of the command's output, if there is one; false when the pipe has nothing now. */
static int forward_output(void) {
  long r = sys3(__NR_read, output_fd, output + 5, MAX_CHUNK);
  if (r > 0) {
    output[0] = 'O';
    put_be32(output + 1, (unsigned)r);
    write_all(1, output, 5 + (size_t)r);
    return 1;
  }
  if (r == 0 || (r != -EAGAIN && r != -EINTR)) {
    /* every writer closed it: the command may run on, its end comes by SIGCHLD */
    sys1(__NR_close, output_fd);
    output_fd = -1;
  }
  return r == -EINTR;
}

static void handle_input(void);

static void reap(void) {
  unsigned char info[128];
  while (sys3(__NR_read, signal_fd, info, sizeof info) > 0) {
  }
  if (!child_pid) return;
  int status = 0;
  if (sys4(__NR_wait4, child_pid, &status, WNOHANG, 0) != child_pid) return;
  /* What it wrote before it ended is in the pipe now; a child left behind holding the pipe
   * may go on writing, so take at most what a (grown) pipe buffer holds, then let go. */
  for (int chunks = 0; output_fd >= 0 && chunks < 16 && forward_output(); chunks++) {
  }
  if (output_fd >= 0) {
    sys1(__NR_close, output_fd);
    output_fd = -1;
  }
  child_pid = 0;
  sweep_leftovers();
  send_frame('X', (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f));
  if (killing) {
    killing = 0;
    handle_input();
  }
}

static void __attribute__((noreturn)) end_of_input(void) {
  if (child_pid) {
    int status = 0;
    kill_command();
    while (sys4(__NR_wait4, child_pid, &status, 0, 0) == -EINTR) {
    }
    child_pid = 0;
    sweep_leftovers();
    send_frame('X', (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f));
  }
  quit(0);
}

/* Requests in the buffer, in order, up to an incomplete one or a 'K' that has a command to end. */
static void handle_input(void) {
  size_t used = 0;
  while (used < input_len && !killing) {
    unsigned char *frame = input + used;
    size_t left = input_len - used;
    if (frame[0] == 'K') {
      if (child_pid) {
        kill_command();
        killing = 1;
      }
      used += 1;
    } else if (frame[0] == 'P') {
      send_frame('H', PROTOCOL_VERSION);
      used += 1;
    } else if (frame[0] == 'R') {
      if (left < 5) break;
      size_t n = (size_t)frame[1] << 24 | (size_t)frame[2] << 16 | (size_t)frame[3] << 8 | frame[4];
      if (n > MAX_REQUEST) protocol_error("request longer than 65536 bytes");
      if (left < 5 + n) break;
      run(frame + 5, n);
      used += 5 + n;
    } else {
      protocol_error("unknown message type");
    }
  }
  memmove(input, input + used, input_len - used);
  input_len -= used;
}

static void read_input(void) {
  long r = sys3(__NR_read, 0, input + input_len, sizeof input - input_len);
  if (r == -EINTR || r == -EAGAIN) return;
  if (r <= 0) end_of_input();
  input_len += (size_t)r;
  handle_input();
}

void __attribute__((noreturn, used)) agent_main(long *stack) {
  long argc = stack[0];
  environ = (char **)(stack + 1 + argc + 1);
  if (argc > 1) {
    const char *flag = (const char *)stack[2], *want = "--sweep";
    while (*flag && *flag == *want) flag++, want++;
    sweep = *flag == 0 && *want == 0;
  }

  /* Started with a standard fd closed, a pipe would land on it and a command's dup3 onto 1
   * and 2 would clobber it: hold 0-2 open. */
  for (int fd = 0; fd < 3; fd++) {
    if (sys2(__NR_fcntl, fd, F_GETFD) < 0) sys4(__NR_openat, AT_FDCWD, "/dev/null", O_RDWR, 0);
  }
  struct kernel_sigaction ignore = {SIG_IGN, 0, 0, 0};
  sys4(__NR_rt_sigaction, SIGPIPE, &ignore, 0, 8);
  unsigned long chld = 1UL << (SIGCHLD - 1);
  sys4(__NR_rt_sigprocmask, SIG_BLOCK, &chld, 0, 8);
  signal_fd = (int)sys4(__NR_signalfd4, -1, &chld, 8, O_CLOEXEC | O_NONBLOCK);
  if (signal_fd < 0) quit(4);

  send_frame('H', PROTOCOL_VERSION);
  for (;;) {
    struct pollfd fds[3] = {{killing ? -1 : 0, POLLIN, 0}, {output_fd, POLLIN, 0}, {signal_fd, POLLIN, 0}};
    if (sys5(__NR_ppoll, fds, 3, 0, 0, 8) < 0) continue;
    /* output before the end it precedes, the end before new requests */
    if (fds[1].revents) forward_output();
    if (fds[2].revents) reap();
    if (fds[0].revents) read_input();
  }
}
