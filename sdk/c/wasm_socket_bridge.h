/*
 * wasm_socket_bridge.h - the C SDK for wasm-socket-bridge guests (one header, no library).
 *
 * A guest is a WASI reactor that defines the events it handles and calls the host's imports:
 *
 *     #include "wasm_socket_bridge.h"
 *     void wsb_on_connection(uint32_t id) {}
 *     void wsb_on_data(uint32_t id, const uint8_t *data, uint32_t len) { wsb_socket_write(id, data, len); }
 *     void wsb_on_close(uint32_t id) {}
 *
 * Build (zig from PyPI: `pip install ziglang`; wasi-sdk's or any wasm clang works the same way):
 *
 *     python3 -m ziglang cc --target=wasm32-wasi -mexec-model=reactor -O2 -I sdk/c guest.c -o guest.wasm
 *
 * The events are declared below with the export names the host calls (onConnection, onData,
 * ...); define the ones you need with these exact C names. onConnection, onData and onClose are
 * required; the others are optional, but a guest calling wsb_timer_set must define
 * wsb_on_timer, wsb_socket_set_timeout wsb_on_timeout, and wsb_host_call wsb_on_reply.
 *
 * Memory: the host passes incoming bytes in a buffer it allocates with the `alloc` export
 * (malloc, below) and frees with `dealloc` after the event returns: copy what you keep. Every
 * import copies what it needs during the call; the guest keeps ownership of every buffer it
 * passes. WASI works without capabilities: printf / puts to stdout become 'log' lines, stderr
 * 'error' lines; clocks and rand via arc4random / getentropy work; files do not. exit(n) stops
 * the guest (GuestError abort `proc_exit(n)`). Full contract: docs/guest-abi.md.
 */
#ifndef WASM_SOCKET_BRIDGE_H
#define WASM_SOCKET_BRIDGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WSB_IMPORT(module, name) __attribute__((import_module(module), import_name(name)))
#define WSB_EXPORT(name) __attribute__((export_name(name)))

/* ---- Socket: connections, by u32 id ------------------------------------------------------ */

/* Copies `len` bytes at `data` and sends them. 1 below highWaterMark; 0 when the connection's
 * queue is full (wait for wsb_on_drain), or the id is unknown, ended or closed. */
WSB_IMPORT("Socket", "write") int32_t wsb_socket_write(uint32_t id, const void *data, uint32_t len);
/* Flushes queued output, then half-closes (FIN). */
WSB_IMPORT("Socket", "end") void wsb_socket_end(uint32_t id);
/* Destroys the connection now. */
WSB_IMPORT("Socket", "close") void wsb_socket_close(uint32_t id);
/* Stops / restarts wsb_on_data for this connection. */
WSB_IMPORT("Socket", "pause") void wsb_socket_pause(uint32_t id);
WSB_IMPORT("Socket", "resume") void wsb_socket_resume(uint32_t id);
/* Dials UTF-8 `host` (hostLen bytes):`port` if the bridge's allowConnect permits. The new id
 * (wsb_on_connect follows), or -1 not allowed, -2 malformed address, -3 too many connections. */
WSB_IMPORT("Socket", "connect") int32_t wsb_socket_connect(const char *host, uint32_t host_len, uint32_t port);
/* onTimeout after `ms` without traffic (0: off). 0, -1 unknown id, -2 ms over 2^31 - 1. */
WSB_IMPORT("Socket", "setTimeout") int32_t wsb_socket_set_timeout(uint32_t id, uint32_t ms);
/* Copies the address as Node prints it (at most `cap` bytes) to `buf`: its full length, or -1. */
WSB_IMPORT("Socket", "remoteAddress") int32_t wsb_socket_remote_address(uint32_t id, char *buf, uint32_t cap);
WSB_IMPORT("Socket", "localAddress") int32_t wsb_socket_local_address(uint32_t id, char *buf, uint32_t cap);
/* The port, or -1. */
WSB_IMPORT("Socket", "remotePort") int32_t wsb_socket_remote_port(uint32_t id);
WSB_IMPORT("Socket", "localPort") int32_t wsb_socket_local_port(uint32_t id);

/* ---- Timer -------------------------------------------------------------------------------- */

/* Calls wsb_on_timer(timer, id) after `ms` (every `ms` if `repeat`); id 0: an instance timer.
 * The timer (> 0), or -1 unknown connection, -2 ms over 2^31 - 1, -3 10,000 live timers. */
WSB_IMPORT("Timer", "set") int32_t wsb_timer_set(uint32_t ms, int32_t repeat, uint32_t id);
WSB_IMPORT("Timer", "clear") void wsb_timer_clear(int32_t timer);

/* ---- Host: the application ---------------------------------------------------------------- */

/* Copies the bridge's `config` option (at most `cap` bytes) to `buf`: its full length, 0 none. */
WSB_IMPORT("Host", "config") int32_t wsb_host_config(void *buf, uint32_t cap);
/* Calls the application's host function `name` with a copy of `data`; the result arrives later as
 * wsb_on_reply. A call handle (> 0), or -1 unknown name, -2 malformed name, -3 1024 in flight. */
WSB_IMPORT("Host", "call") int32_t wsb_host_call(const char *name, uint32_t name_len, const void *data, uint32_t data_len, uint32_t id);

/* ---- Shared: the bridge's key-value store ------------------------------------------------- */

/* Copies the value (at most `cap` bytes) to `out`: its full length, -1 missing, -2 key over 1 KiB. */
WSB_IMPORT("Shared", "get") int32_t wsb_shared_get(const void *key, uint32_t key_len, void *out, uint32_t cap);
/* 0, -2 key over 1 KiB, -3 the store would pass maxSharedBytes. */
WSB_IMPORT("Shared", "set") int32_t wsb_shared_set(const void *key, uint32_t key_len, const void *value, uint32_t value_len);
/* 1 deleted, 0 absent, -2 key over 1 KiB. */
WSB_IMPORT("Shared", "delete") int32_t wsb_shared_delete(const void *key, uint32_t key_len);
/* Atomically adds to the little-endian i64 under the key: the new value, or INT64_MIN. */
WSB_IMPORT("Shared", "add") int64_t wsb_shared_add(const void *key, uint32_t key_len, int64_t delta);
/* Compare-and-set: when the key's value equals the `expected_len` bytes at `expected`
 * (expected_len -1: when the key is absent), stores the `value_len` bytes at `value` (value_len -1:
 * deletes the key) and returns 1; else 0. -2 key over 1 KiB, -3 the store would pass maxSharedBytes. */
WSB_IMPORT("Shared", "setIf") int32_t wsb_shared_set_if(const void *key, uint32_t key_len, const void *expected, int32_t expected_len, const void *value, int32_t value_len);
/* The keys starting with `prefix`, sorted, as entries of (u32 little-endian length, key bytes): the
 * whole entries that fit in `cap`. Returns the full listing's length (call again with a bigger
 * buffer when it is over `cap`), -2 prefix over 1 KiB. */
WSB_IMPORT("Shared", "keys") int32_t wsb_shared_keys(const void *prefix, uint32_t prefix_len, void *out, uint32_t cap);

/* ---- Events: define the ones you handle --------------------------------------------------- */

WSB_EXPORT("onConnection") void wsb_on_connection(uint32_t id);
/* `data` is valid during the call only. */
WSB_EXPORT("onData") void wsb_on_data(uint32_t id, const uint8_t *data, uint32_t len);
WSB_EXPORT("onClose") void wsb_on_close(uint32_t id);
WSB_EXPORT("onEnd") void wsb_on_end(uint32_t id);
WSB_EXPORT("onError") void wsb_on_error(uint32_t id);
WSB_EXPORT("onDrain") void wsb_on_drain(uint32_t id);
WSB_EXPORT("onConnect") void wsb_on_connect(uint32_t id);
WSB_EXPORT("onTimer") void wsb_on_timer(int32_t timer, uint32_t id);
WSB_EXPORT("onTimeout") void wsb_on_timeout(uint32_t id);
WSB_EXPORT("onMessage") void wsb_on_message(uint32_t id, const uint8_t *data, uint32_t len);
/* status 0: `data` is what the host function returned; 1: a UTF-8 error message. */
WSB_EXPORT("onReply") void wsb_on_reply(int32_t call, int32_t status, const uint8_t *data, uint32_t len);

/* ---- Allocator glue: the raw flavour's alloc / dealloc, over malloc ----------------------- */

/* Weak, so a guest of several files may include this header in each, or define its own. */
__attribute__((weak, export_name("alloc"))) void *wsb_alloc(uint32_t size) {
    return malloc(size ? size : 1);
}

__attribute__((weak, export_name("dealloc"))) void wsb_dealloc(void *ptr, uint32_t size) {
    (void)size;
    free(ptr);
}

/* ---- Helpers ------------------------------------------------------------------------------ */

/* Writes a NUL-terminated string. */
static inline int32_t wsb_socket_write_str(uint32_t id, const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return wsb_socket_write(id, s, (uint32_t)n);
}

#ifdef __cplusplus
}
#endif

#endif /* WASM_SOCKET_BRIDGE_H */
