// lines.c: a line-protocol guest in C. A client sends commands, one per line (\n or \r\n):
//
//   PING          -> +PONG
//   ECHO <text>   -> <text>
//   COUNT         -> :<lines this connection sent so far, this one included>
//   QUIT          -> +BYE, then the connection ends
//   anything else -> -ERR unknown command '<word>'
//
// A line longer than MAX_LINE bytes is answered "-ERR line too long" and the connection ends.
// Every command is logged with printf ('log' lines); unknown ones with fprintf(stderr) ('error'
// lines). Lines may arrive split across onData calls or several in one: each connection keeps
// its partial line in a buffer of its own (malloc, freed in onClose).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasm_socket_bridge.h"

#define MAX_LINE 1024

struct conn {
    uint32_t id;
    uint32_t lines;
    uint32_t len;
    int done;
    char line[MAX_LINE];
    struct conn *next;
};

static struct conn *conns;

static struct conn *find(uint32_t id) {
    for (struct conn *c = conns; c; c = c->next)
        if (c->id == id) return c;
    return NULL;
}

static void reply(uint32_t id, const char *text) {
    wsb_socket_write_str(id, text);
    wsb_socket_write(id, "\r\n", 2);
}

static void command(struct conn *c, char *line, uint32_t len) {
    if (len && line[len - 1] == '\r') len--;
    line[len] = 0;
    c->lines++;
    printf("%u: %s\n", c->id, line);
    if (strcmp(line, "PING") == 0) {
        reply(c->id, "+PONG");
    } else if (strncmp(line, "ECHO ", 5) == 0) {
        reply(c->id, line + 5);
    } else if (strcmp(line, "COUNT") == 0) {
        char n[16];
        snprintf(n, sizeof n, ":%u", c->lines);
        reply(c->id, n);
    } else if (strcmp(line, "QUIT") == 0) {
        reply(c->id, "+BYE");
        wsb_socket_end(c->id);
        c->done = 1;
    } else {
        char *space = strchr(line, ' ');
        if (space) *space = 0;
        char msg[MAX_LINE + 32];
        snprintf(msg, sizeof msg, "-ERR unknown command '%s'", line);
        fprintf(stderr, "%u: unknown command '%s'\n", c->id, line);
        reply(c->id, msg);
    }
}

void wsb_on_connection(uint32_t id) {
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        wsb_socket_close(id);
        return;
    }
    c->id = id;
    c->next = conns;
    conns = c;
}

void wsb_on_data(uint32_t id, const uint8_t *data, uint32_t len) {
    struct conn *c = find(id);
    for (uint32_t i = 0; c && !c->done && i < len; i++) {
        if (data[i] == '\n') {
            command(c, c->line, c->len);
            c->len = 0;
        } else if (c->len == MAX_LINE - 1) {
            reply(id, "-ERR line too long");
            fprintf(stderr, "%u: line too long\n", id);
            wsb_socket_end(id);
            c->done = 1;
        } else {
            c->line[c->len++] = (char)data[i];
        }
    }
}

void wsb_on_close(uint32_t id) {
    for (struct conn **p = &conns; *p; p = &(*p)->next) {
        if ((*p)->id == id) {
            struct conn *c = *p;
            *p = c->next;
            free(c);
            return;
        }
    }
}
