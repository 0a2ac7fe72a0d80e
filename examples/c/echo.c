// echo.c: the echo guest in C. Every byte a client sends comes back; each connection is logged
// with printf (a 'log' line on the bridge). Build: npm run build:guests (build/guests/c-echo.wasm).
#include <stdio.h>

#include "wasm_socket_bridge.h"

void wsb_on_connection(uint32_t id) {
    printf("connection %u\n", id);
}

void wsb_on_data(uint32_t id, const uint8_t *data, uint32_t len) {
    wsb_socket_write(id, data, len);
}

void wsb_on_close(uint32_t id) {
    printf("closed %u\n", id);
}
