// wasi.c: a test guest that uses the C library the way C programs do, to show what WASI answers.
// Each line a client sends is a command; the answer is one line.
//
//   print <text>   printf("<text>\n") -> 'log' line; answers "ok"
//   eprint <text>  fputs("<text>", stderr) with no newline: a partial 'error' line the host holds
//                  until the event ends; answers "ok"
//   time           answers "time <ms since the epoch>" (clock_gettime(CLOCK_REALTIME))
//   random         answers "random <16 hex digits>" (arc4random_buf, over WASI random_get)
//   env            answers "env <argc-free environment: number of environ entries>"
//   file           answers "file <errno name>" of fopen("/etc/passwd") (no capabilities: fails)
//   exit <n>       exit(n): stops the guest, GuestError abort proc_exit(n)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wasm_socket_bridge.h"

extern char **environ;

static void answer(uint32_t id, const char *text) {
    wsb_socket_write_str(id, text);
    wsb_socket_write(id, "\n", 1);
}

void wsb_on_connection(uint32_t id) { (void)id; }
void wsb_on_close(uint32_t id) { (void)id; }

void wsb_on_data(uint32_t id, const uint8_t *data, uint32_t len) {
    char line[512];
    uint32_t n = len < sizeof line - 1 ? len : sizeof line - 1;
    memcpy(line, data, n);
    line[n] = 0;
    char *nl = strchr(line, '\n');
    if (nl) *nl = 0;
    char out[600];
    if (strncmp(line, "print ", 6) == 0) {
        printf("%s\n", line + 6);
        answer(id, "ok");
    } else if (strncmp(line, "eprint ", 7) == 0) {
        fputs(line + 7, stderr);
        answer(id, "ok");
    } else if (strcmp(line, "time") == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(out, sizeof out, "time %lld", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
        answer(id, out);
    } else if (strcmp(line, "random") == 0) {
        uint8_t r[8];
        arc4random_buf(r, sizeof r);
        snprintf(out, sizeof out, "random %02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
        answer(id, out);
    } else if (strcmp(line, "env") == 0) {
        int count = 0;
        for (char **e = environ; e && *e; e++) count++;
        snprintf(out, sizeof out, "env %d", count);
        answer(id, out);
    } else if (strcmp(line, "file") == 0) {
        FILE *f = fopen("/etc/passwd", "r");
        snprintf(out, sizeof out, "file %s", f ? "opened" : strerror(errno));
        if (f) fclose(f);
        answer(id, out);
    } else if (strncmp(line, "exit ", 5) == 0) {
        exit(atoi(line + 5));
    } else {
        answer(id, "unknown");
    }
}
