/*
 * cli_serve.c - `ustor serve`: runs nbdkit with nbdkit-ustorport-plugin.so
 * in the foreground as our child, waits until it answers the NBD
 * handshake, prints the URI, and on Ctrl-C (or SIGTERM) stops it and
 * waits for it: nbdkit lets requests finish and the plugin closes the
 * adapter with every request completed.
 */
#include "cli_serve.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "cli_args.h"

#define SERVE_DEFAULT_TCP_PORT 10809
#define SERVE_READY_TIMEOUT_S 30
#define SERVE_STOP_TIMEOUT_S 15
#define SERVE_MAX_ARGS 48

struct serve_options {
    const char *plugin_args[16]; /* "key=value" for the plugin */
    unsigned nplugin_args;
    char *owned[16];
    unsigned nowned;
    const char *socket_path;     /* NULL: a fresh temporary directory */
    bool tcp;
    unsigned tcp_port;
    const char *plugin;          /* NULL: found next to the program */
    const char *nbdkit;          /* NULL: "nbdkit" from PATH */
    bool verbose;
    bool help;
};

void cli_serve_usage(FILE *f)
{
    fprintf(f,
            "usage: ustor serve [OPTIONS]\n"
            "Serves one LUN of a miniport's adapter over NBD (nbdkit with\n"
            "nbdkit-ustorport-plugin.so, in the foreground) and prints its URI.\n"
            "Ctrl-C stops it cleanly.\n\n"
            "  --miniport=NAME|PATH.so   built-in miniport or a shared object\n"
            "  --device=none|virtio-blk  simulated device\n"
            "  --size=BYTES              capacity per LUN (default 64M)\n"
            "  --sync=half|full|concurrent|virtual\n"
            "  --verifier=off|log|fatal  (default log; reports go to nbdkit's log)\n"
            "  --lun=N --luns=N          LUN served (default 0), LUNs of the adapter\n"
            "  --cpus=N --miniport-args=STRING --device-opts=STRING\n"
            "  --socket=PATH             Unix socket (default: in a new temporary directory)\n"
            "  --tcp[=PORT]              TCP on 127.0.0.1 instead (default port %d)\n"
            "  --plugin=PATH             nbdkit-ustorport-plugin.so (default: found next to ustor,\n"
            "                            or $USTOR_NBDKIT_PLUGIN)\n"
            "  --nbdkit=PATH             the nbdkit program (default: nbdkit from PATH)\n"
            "  --verbose                 nbdkit -v (debug messages, verifier notes)\n",
            SERVE_DEFAULT_TCP_PORT);
}

static int add_plugin_arg(struct serve_options *s, const char *key, const char *value,
                          char *err, size_t errlen)
{
    size_t n = strlen(key) + strlen(value) + 2;
    char *kv = malloc(n);
    if (!kv || s->nplugin_args >= 16) {
        free(kv);
        snprintf(err, errlen, "ustor serve: too many options");
        return -1;
    }
    snprintf(kv, n, "%s=%s", key, value);
    s->owned[s->nowned++] = kv;
    s->plugin_args[s->nplugin_args++] = kv;
    return 0;
}

static bool one_of(const char *value, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(value, *names) == 0)
            return true;
    return false;
}

static int parse_serve(int argc, char **argv, struct serve_options *s, char *err, size_t errlen)
{
    static const char *const devices[] = { "none", "virtio-blk", NULL };
    static const char *const syncs[] = { "half", "full", "concurrent", "virtual", NULL };
    static const char *const verifiers[] = { "off", "log", "fatal", NULL };
    memset(s, 0, sizeof(*s));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "ustor serve: unexpected argument '%s'; options look like "
                                  "--size=64M (see ustor serve --help)", a);
            return -1;
        }
        char key[32];
        const char *eq = strchr(a + 2, '=');
        size_t klen = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        if (klen >= sizeof(key))
            klen = sizeof(key) - 1;
        memcpy(key, a + 2, klen);
        key[klen] = '\0';
        const char *value = eq ? eq + 1 : NULL;
        uint64_t v;

        if (strcmp(key, "help") == 0) {
            s->help = true;
            continue;
        }
        if (strcmp(key, "verbose") == 0) {
            s->verbose = true;
            continue;
        }
        if (strcmp(key, "tcp") == 0) {
            s->tcp = true;
            s->tcp_port = SERVE_DEFAULT_TCP_PORT;
            if (value && cli_parse_uint(value, 1, 65535, &v) < 0) {
                snprintf(err, errlen, "ustor serve: --tcp=%s: expected a TCP port 1..65535", value);
                return -1;
            }
            if (value)
                s->tcp_port = (unsigned)v;
            continue;
        }
        if (!value || !*value) {
            snprintf(err, errlen, "ustor serve: --%s needs a value (--%s=...)", key, key);
            return -1;
        }
        const char *bad = NULL;
        if (strcmp(key, "socket") == 0) {
            if (strlen(value) >= sizeof(((struct sockaddr_un *)0)->sun_path))
                bad = "a Unix socket path shorter than 108 bytes";
            s->socket_path = value;
        } else if (strcmp(key, "plugin") == 0) {
            s->plugin = value;
        } else if (strcmp(key, "nbdkit") == 0) {
            s->nbdkit = value;
        } else if (strcmp(key, "miniport") == 0 || strcmp(key, "miniport-args") == 0 ||
                   strcmp(key, "device-opts") == 0) {
            /* checked by the plugin, which knows the miniports */
        } else if (strcmp(key, "device") == 0) {
            if (!one_of(value, devices))
                bad = "none or virtio-blk";
        } else if (strcmp(key, "size") == 0) {
            if (cli_parse_size(value, &v) < 0 || v < 512 || v % 512)
                bad = "a capacity, a multiple of 512, with an optional k/m/g/t suffix (e.g. 64M)";
        } else if (strcmp(key, "sync") == 0) {
            if (!one_of(value, syncs))
                bad = "half, full, concurrent or virtual";
        } else if (strcmp(key, "verifier") == 0) {
            if (!one_of(value, verifiers))
                bad = "off, log or fatal";
        } else if (strcmp(key, "lun") == 0) {
            if (cli_parse_uint(value, 0, 254, &v) < 0)
                bad = "a LUN number 0..254";
        } else if (strcmp(key, "luns") == 0) {
            if (cli_parse_uint(value, 1, 255, &v) < 0)
                bad = "a LUN count 1..255";
        } else if (strcmp(key, "cpus") == 0) {
            if (cli_parse_uint(value, 1, 256, &v) < 0)
                bad = "a number of CPUs 1..256";
        } else {
            snprintf(err, errlen, "ustor serve: unknown option --%s; expected --miniport, --device, "
                                  "--size, --sync, --verifier, --lun, --luns, --cpus, "
                                  "--miniport-args, --device-opts, --socket, --tcp, --plugin, "
                                  "--nbdkit, --verbose or --help", key);
            return -1;
        }
        if (bad) {
            snprintf(err, errlen, "ustor serve: --%s=%s: expected %s", key, value, bad);
            return -1;
        }
        if (strcmp(key, "socket") != 0 && strcmp(key, "plugin") != 0 &&
            strcmp(key, "nbdkit") != 0 && add_plugin_arg(s, key, value, err, errlen) < 0)
            return -1;
    }
    if (s->tcp && s->socket_path) {
        snprintf(err, errlen, "ustor serve: --socket and --tcp exclude each other; give one");
        return -1;
    }
    return 0;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The plugin: --plugin, $USTOR_NBDKIT_PLUGIN, the build's path, then
 * next to the program (build tree: <build>/cli/ustor and
 * <build>/nbd/...; installed: <prefix>/bin and <prefix>/lib*\/ustorport). */
static int find_plugin(const struct serve_options *s, char *out, size_t len, char *err,
                       size_t errlen)
{
    const char *name = "nbdkit-ustorport-plugin.so";
    const char *given = s->plugin ? s->plugin : getenv("USTOR_NBDKIT_PLUGIN");
    if (given) {
        if (!is_file(given)) {
            snprintf(err, errlen, "ustor serve: plugin %s: no such file", given);
            return -1;
        }
        snprintf(out, len, "%s", given);
        return 0;
    }
#ifdef USTOR_NBDKIT_PLUGIN_PATH
    if (is_file(USTOR_NBDKIT_PLUGIN_PATH)) {
        snprintf(out, len, "%s", USTOR_NBDKIT_PLUGIN_PATH);
        return 0;
    }
#endif
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        const char *rel[] = { "../nbd", "../lib/ustorport", "../lib64/ustorport",
                              "../lib/x86_64-linux-gnu/ustorport", "." };
        for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
            snprintf(out, len, "%s/%s/%s", exe, rel[i], name);
            if (is_file(out))
                return 0;
        }
    }
    snprintf(err, errlen, "ustor serve: cannot find %s next to this program; build the target "
                          "nbdkit-ustorport-plugin or give --plugin=PATH", name);
    return -1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Ready = the server sends the NBD greeting.  nbdkit accepts only once
 * the plugin has started the adapter, and closes if that failed. */
static bool server_ready(const struct serve_options *s, const char *sock_path)
{
    int fd;
    if (s->tcp) {
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s->tcp_port) };
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
            goto no;
    } else {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
            goto no;
    }
    /* greeting: "NBDMAGIC", "IHAVEOPT", 16-bit handshake flags */
    uint8_t greeting[18];
    size_t got = 0;
    while (got < sizeof(greeting)) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 1000) <= 0)
            goto no;
        ssize_t r = read(fd, greeting + got, sizeof(greeting) - got);
        if (r <= 0)
            goto no;
        got += (size_t)r;
    }
    if (memcmp(greeting, "NBDMAGIC", 8) != 0)
        goto no;
    /* leave politely (client flags "fixed newstyle", then NBD_OPT_ABORT)
     * so that the server logs no error for the probe */
    static const uint8_t goodbye[] = {
        0, 0, 0, 1,                              /* NBD_FLAG_C_FIXED_NEWSTYLE */
        'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T', /* option magic */
        0, 0, 0, 2,                              /* NBD_OPT_ABORT */
        0, 0, 0, 0,                              /* no data */
    };
    if (write(fd, goodbye, sizeof(goodbye)) == (ssize_t)sizeof(goodbye)) {
        /* the server acknowledges and closes; wait briefly for that */
        char sink[64];
        struct pollfd p = { .fd = fd, .events = POLLIN };
        while (poll(&p, 1, 500) > 0 && read(fd, sink, sizeof(sink)) > 0)
            ;
    }
    close(fd);
    return true;
no:
    if (fd >= 0)
        close(fd);
    return false;
}

static void free_serve(struct serve_options *s)
{
    for (unsigned i = 0; i < s->nowned; i++)
        free(s->owned[i]);
    s->nowned = 0;
}

/* Stops the child: SIGTERM, a bounded wait, then SIGKILL.  Returns its
 * wait status. */
static int stop_child(pid_t pid)
{
    int status = 0;
    kill(pid, SIGTERM);
    double deadline = now_s() + SERVE_STOP_TIMEOUT_S;
    while (now_s() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        struct timespec ts = { 0, 50 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "ustor serve: nbdkit did not stop within %d s of SIGTERM; killing it\n",
            SERVE_STOP_TIMEOUT_S);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return status;
}

int cli_serve_main(int argc, char **argv)
{
    struct serve_options s;
    char err[512];
    if (parse_serve(argc, argv, &s, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        free_serve(&s);
        return CLI_EXIT_USAGE;
    }
    if (s.help) {
        cli_serve_usage(stdout);
        free_serve(&s);
        return CLI_EXIT_OK;
    }
    char plugin[PATH_MAX + 64];
    if (find_plugin(&s, plugin, sizeof(plugin), err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        free_serve(&s);
        return CLI_EXIT_LOAD;
    }

    char tmpdir[] = "/tmp/ustor-serve.XXXXXX";
    bool made_tmpdir = false;
    char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)] = "";
    if (!s.tcp) {
        if (s.socket_path) {
            snprintf(sock_path, sizeof(sock_path), "%s", s.socket_path);
        } else {
            if (!mkdtemp(tmpdir)) {
                fprintf(stderr, "ustor serve: cannot create a directory for the socket: %s\n",
                        strerror(errno));
                free_serve(&s);
                return CLI_EXIT_LOAD;
            }
            made_tmpdir = true;
            snprintf(sock_path, sizeof(sock_path), "%s/nbd.sock", tmpdir);
        }
    }

    const char *args[SERVE_MAX_ARGS];
    unsigned n = 0;
    char port[16];
    args[n++] = s.nbdkit ? s.nbdkit : "nbdkit";
    args[n++] = "-f";
    args[n++] = "--exit-with-parent";
    if (s.verbose)
        args[n++] = "-v";
    if (s.tcp) {
        snprintf(port, sizeof(port), "%u", s.tcp_port);
        args[n++] = "-i";
        args[n++] = "127.0.0.1";
        args[n++] = "-p";
        args[n++] = port;
    } else {
        args[n++] = "-U";
        args[n++] = sock_path;
    }
    args[n++] = plugin;
    for (unsigned i = 0; i < s.nplugin_args; i++)
        args[n++] = s.plugin_args[i];
    args[n] = NULL;

    /* Ctrl-C and SIGTERM are taken by sigtimedwait below; the child
     * (same process group) gets Ctrl-C from the terminal as well. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);

    pid_t pid = fork();
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        /* libustorport uses initial-exec TLS; nbdkit dlopen()s it */
        const char *tun = getenv("GLIBC_TUNABLES");
        char tunables[512];
        snprintf(tunables, sizeof(tunables), "%s%sglibc.rtld.optional_static_tls=65536",
                 tun ? tun : "", tun && *tun ? ":" : "");
        setenv("GLIBC_TUNABLES", tunables, 1);
        execvp(args[0], (char *const *)args);
        fprintf(stderr, "ustor serve: cannot run %s: %s%s\n", args[0], strerror(errno),
                errno == ENOENT ? " (install nbdkit, e.g. apt-get install nbdkit)" : "");
        _exit(127);
    }
    if (pid < 0) {
        fprintf(stderr, "ustor serve: fork: %s\n", strerror(errno));
        sigprocmask(SIG_SETMASK, &old, NULL);
        free_serve(&s);
        return CLI_EXIT_LOAD;
    }

    int rc = CLI_EXIT_OK;
    int status = 0;
    bool exited = false;
    double deadline = now_s() + SERVE_READY_TIMEOUT_S;
    bool ready = false;
    while (!ready) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            exited = true;
            break;
        }
        if (now_s() > deadline)
            break;
        ready = server_ready(&s, sock_path);
        if (!ready) {
            struct timespec ts = { 0, 50 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
    }
    if (!ready) {
        if (exited)
            fprintf(stderr, "ustor serve: nbdkit exited before serving (%s %d); its messages "
                            "above say why\n",
                    WIFEXITED(status) ? "status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        else {
            fprintf(stderr, "ustor serve: nbdkit did not answer within %d s\n",
                    SERVE_READY_TIMEOUT_S);
            stop_child(pid);
        }
        rc = CLI_EXIT_LOAD;
    } else {
        if (s.tcp)
            printf("nbd://127.0.0.1:%u/\n", s.tcp_port);
        else
            printf("nbd+unix:///?socket=%s\n", sock_path);
        fflush(stdout);
        fprintf(stderr, "ustor serve: serving; Ctrl-C stops\n");
        for (;;) {
            siginfo_t si;
            int sig = sigwaitinfo(&set, &si);
            if (sig == SIGCHLD) {
                if (waitpid(pid, &status, WNOHANG) == pid) {
                    exited = true;
                    break;
                }
                continue;
            }
            if (sig == SIGINT || sig == SIGTERM)
                break;
        }
        if (exited) {
            fprintf(stderr, "ustor serve: nbdkit exited on its own (%s %d)\n",
                    WIFEXITED(status) ? "status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            rc = CLI_EXIT_IO;
        } else {
            status = stop_child(pid);
            bool clean = (WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
                         (WIFSIGNALED(status) && (WTERMSIG(status) == SIGTERM ||
                                                  WTERMSIG(status) == SIGINT));
            if (!clean) {
                fprintf(stderr, "ustor serve: nbdkit did not stop cleanly (%s %d)\n",
                        WIFEXITED(status) ? "status" : "signal",
                        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
                rc = CLI_EXIT_IO;
            } else {
                fprintf(stderr, "ustor serve: stopped\n");
            }
        }
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (!s.tcp)
        unlink(sock_path);
    if (made_tmpdir)
        rmdir(tmpdir);
    free_serve(&s);
    return rc;
}
