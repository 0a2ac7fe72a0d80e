//! Module `wasi_snapshot_preview1`: WASI preview1 without capabilities, so modules built for
//! `wasm32-wasi` (Rust std, C with wasi-libc, Zig, TinyGo) load. Registered in `abi/imports.rs`;
//! docs/guest-abi.md has the table of every function and its answer.
//!
//! - `fd_write` to fd 1 / 2 becomes `'log'` lines at level `log` / `error`: split on `\n` (a
//!   trailing `\r` is dropped), a partial line is held until its newline or the end of the event
//!   (`HostEnv::end_event`), a line is at most 64 KiB (longer ones are cut into several). Lines
//!   count against the event's log cap like `console.log`.
//! - `fd_fdstat_get` describes fds 0-2 as character devices (so wasi-libc line-buffers stdout).
//! - Clocks: realtime and monotonic in nanoseconds; the two CPU-time clocks answer the time since
//!   the instance started. `random_get` fills the buffer from the same source as `env.seed`.
//! - Arguments and environment are empty; `fd_prestat_get` answers EBADF (no preopened
//!   directories), as do `path_*` and every fd other than 0-2; the other functions on fds 0-2
//!   answer ENOSYS. `sched_yield` succeeds and does nothing.
//! - `proc_exit(n)` stops the guest with a GuestError of kind `abort`, message `proc_exit(n)`.
//!
//! Memory: every pointer is checked before anything happens; a pointer or length outside the
//! guest's memory is answered with EFAULT (21) and has no effect (the guest is not stopped: a
//! WASI caller expects an errno). The host reads the iovecs during the call and keeps only the
//! held partial lines (at most 64 KiB per stream).

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use wasmer::{MemoryView, RuntimeError};

use crate::instance::failure::Kind;
use crate::instance::guestmem::{guest_bytes, write_from};
use crate::instance::imports::{Ctx, HostEnv, level};

/// WASI errno values the host answers with.
pub mod errno {
    pub const SUCCESS: i32 = 0;
    pub const BADF: i32 = 8;
    pub const FAULT: i32 = 21;
    pub const INVAL: i32 = 28;
    pub const NOSYS: i32 = 52;
}

/// Longest `'log'` line made from `fd_write` output; a longer line is cut into pieces this long.
pub const MAX_LINE: usize = 64 * 1024;

const FILETYPE_CHARACTER_DEVICE: u8 = 2;
const RIGHT_FD_READ: u64 = 1 << 1;
const RIGHT_FD_WRITE: u64 = 1 << 6;

/// What WASI keeps per instance: the partial lines of stdout and stderr, and when it started.
#[derive(Debug)]
pub struct WasiState {
    /// Indexed by fd - 1: stdout, stderr.
    pending: [Vec<u8>; 2],
    started: Instant,
}

impl Default for WasiState {
    fn default() -> WasiState {
        WasiState {
            pending: [Vec::new(), Vec::new()],
            started: Instant::now(),
        }
    }
}

fn stream_level(stream: usize) -> u8 {
    if stream == 0 {
        level::LOG
    } else {
        level::ERROR
    }
}

impl HostEnv {
    /// Turns `data` written to stdout (`stream` 0) or stderr (1) into `'log'` lines, holding the
    /// last partial line.
    fn wasi_output(&mut self, stream: usize, mut data: &[u8]) {
        while !data.is_empty() {
            let held = self.wasi.pending[stream].len();
            let room = MAX_LINE - held;
            let window = &data[..data.len().min(room)];
            match window.iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    let mut line = std::mem::take(&mut self.wasi.pending[stream]);
                    line.extend_from_slice(&window[..nl]);
                    self.wasi_line(stream, line);
                    data = &data[nl + 1..];
                }
                None if window.len() == room => {
                    let mut line = std::mem::take(&mut self.wasi.pending[stream]);
                    line.extend_from_slice(window);
                    self.wasi_line(stream, line);
                    data = &data[room..];
                }
                None => {
                    self.wasi.pending[stream].extend_from_slice(window);
                    data = &[];
                }
            }
        }
    }

    fn wasi_line(&mut self, stream: usize, mut line: Vec<u8>) {
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if self.log_room() {
            self.log(stream_level(stream), &String::from_utf8_lossy(&line));
        }
    }

    /// The event ends: partial lines written to stdout / stderr become `'log'` lines now.
    pub fn end_event(&mut self) {
        for stream in 0..2 {
            if !self.wasi.pending[stream].is_empty() {
                let line = std::mem::take(&mut self.wasi.pending[stream]);
                self.wasi_line(stream, line);
            }
        }
    }
}

/// Runs `f` with the guest's memory view; without a memory yet (a start function), EFAULT.
fn with_view(ctx: &mut Ctx, f: impl FnOnce(&MemoryView) -> Result<(), i32>) -> i32 {
    let (env, store) = ctx.data_and_store_mut();
    let Some(memory) = &env.memory else {
        return errno::FAULT;
    };
    match f(&memory.view(&store)) {
        Ok(()) => errno::SUCCESS,
        Err(e) => e,
    }
}

fn put(view: &MemoryView, ptr: i32, bytes: &[u8]) -> Result<(), i32> {
    write_from(view, ptr as u32, bytes).map_err(|_| errno::FAULT)
}

fn put_u32(view: &MemoryView, ptr: i32, v: u32) -> Result<(), i32> {
    put(view, ptr, &v.to_le_bytes())
}

fn put_u64(view: &MemoryView, ptr: i32, v: u64) -> Result<(), i32> {
    put(view, ptr, &v.to_le_bytes())
}

/// `args_sizes_get(argc: *u32, argv_buf_size: *u32) -> errno` and `environ_sizes_get`: 0 and 0.
pub(crate) fn sizes_get(mut ctx: Ctx, count: i32, size: i32) -> i32 {
    with_view(&mut ctx, |v| {
        guest_bytes(v, count as u32, 4).map_err(|_| errno::FAULT)?;
        guest_bytes(v, size as u32, 4).map_err(|_| errno::FAULT)?;
        put_u32(v, count, 0)?;
        put_u32(v, size, 0)
    })
}

/// `args_get(argv: **u8, argv_buf: *u8) -> errno` and `environ_get`: nothing to write (empty).
pub(crate) fn list_get(_ctx: Ctx, _ptrs: i32, _buf: i32) -> i32 {
    errno::SUCCESS
}

fn clock_now(env: &HostEnv, id: i32) -> Option<u64> {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    match id {
        0 => Some(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(nanos)
                .unwrap_or(0),
        ),
        1 => Some(nanos(EPOCH.get_or_init(Instant::now).elapsed())),
        2 | 3 => Some(nanos(env.wasi.started.elapsed())),
        _ => None,
    }
}

/// `clock_res_get(id, resolution: *u64) -> errno`: 1 µs for the four clocks; EINVAL for others.
pub(crate) fn clock_res_get(mut ctx: Ctx, id: i32, res: i32) -> i32 {
    if !(0..=3).contains(&id) {
        return errno::INVAL;
    }
    with_view(&mut ctx, |v| put_u64(v, res, 1_000))
}

/// `clock_time_get(id, precision: u64, time: *u64) -> errno`: realtime (0) in ns since the Unix
/// epoch, monotonic (1) in ns since the host started, process / thread CPU time (2, 3) as the
/// time since the instance started; EINVAL for other ids.
pub(crate) fn clock_time_get(mut ctx: Ctx, id: i32, _precision: i64, time: i32) -> i32 {
    let Some(now) = clock_now(ctx.data(), id) else {
        return errno::INVAL;
    };
    with_view(&mut ctx, |v| put_u64(v, time, now))
}

/// `random_get(buf: *u8, len: u32) -> errno`: fills `len` bytes with random data (the source of
/// `env.seed`: std's per-process random keys, hashed with a counter).
pub(crate) fn random_get(mut ctx: Ctx, buf: i32, len: i32) -> i32 {
    let (env, store) = ctx.data_and_store_mut();
    let Some(memory) = &env.memory else {
        return errno::FAULT;
    };
    let view = memory.view(&store);
    if guest_bytes(&view, buf as u32, len as u32 as u64).is_err() {
        return errno::FAULT;
    }
    let state = RandomState::new();
    let mut chunk = [0u8; 4096];
    let mut done = 0usize;
    let total = len as u32 as usize;
    while done < total {
        let n = (total - done).min(chunk.len());
        for word in chunk[..n].chunks_mut(8) {
            env.seed_counter = env.seed_counter.wrapping_add(1);
            let bits = state.hash_one(env.seed_counter).to_le_bytes();
            word.copy_from_slice(&bits[..word.len()]);
        }
        if write_from(&view, buf as u32 + done as u32, &chunk[..n]).is_err() {
            return errno::FAULT;
        }
        done += n;
    }
    errno::SUCCESS
}

/// `fd_write(fd, iovs: *iovec, iovs_len: u32, nwritten: *u32) -> errno`: to fd 1 / 2, `'log'`
/// lines (see the module doc); every byte is accepted and `nwritten` is their total. Other fds:
/// EBADF. Bad iovec, buffer or `nwritten` pointers: EFAULT before anything is logged.
pub(crate) fn fd_write(mut ctx: Ctx, fd: i32, iovs: i32, iovs_len: i32, nwritten: i32) -> i32 {
    if fd != 1 && fd != 2 {
        return errno::BADF;
    }
    let (env, store) = ctx.data_and_store_mut();
    let Some(memory) = env.memory.clone() else {
        return errno::FAULT;
    };
    let view = memory.view(&store);
    let Ok(list) = guest_bytes(&view, iovs as u32, iovs_len as u32 as u64 * 8) else {
        return errno::FAULT;
    };
    if guest_bytes(&view, nwritten as u32, 4).is_err() {
        return errno::FAULT;
    }
    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let mut total: u64 = 0;
    for iov in list.chunks_exact(8) {
        let (ptr, len) = (word(&iov[..4]), word(&iov[4..]));
        if guest_bytes(&view, ptr, len as u64).is_err() {
            return errno::FAULT;
        }
        total += len as u64;
    }
    // A guest may list the same buffer many times; the answer must fit nwritten's u32.
    if total > u32::MAX as u64 {
        return errno::INVAL;
    }
    for iov in list.chunks_exact(8) {
        let (ptr, len) = (word(&iov[..4]), word(&iov[4..]));
        if let Ok(data) = guest_bytes(&view, ptr, len as u64) {
            env.wasi_output(fd as usize - 1, data);
        }
    }
    match put_u32(&view, nwritten, total as u32) {
        Ok(()) => errno::SUCCESS,
        Err(e) => e,
    }
}

/// `fd_fdstat_get(fd, stat: *fdstat) -> errno`: fds 0-2 are character devices (readable stdin,
/// writable stdout / stderr, no seek: wasi-libc's `isatty` is true, so stdout is line-buffered);
/// other fds: EBADF.
pub(crate) fn fd_fdstat_get(mut ctx: Ctx, fd: i32, stat: i32) -> i32 {
    if !(0..=2).contains(&fd) {
        return errno::BADF;
    }
    let rights = if fd == 0 {
        RIGHT_FD_READ
    } else {
        RIGHT_FD_WRITE
    };
    let mut bytes = [0u8; 24];
    bytes[0] = FILETYPE_CHARACTER_DEVICE;
    bytes[8..16].copy_from_slice(&rights.to_le_bytes());
    with_view(&mut ctx, |v| put(v, stat, &bytes))
}

/// The answer of every other function that takes an fd first: ENOSYS for 0-2, EBADF otherwise.
fn on_fd(fd: i32) -> i32 {
    if (0..=2).contains(&fd) {
        errno::NOSYS
    } else {
        errno::BADF
    }
}

/// `fd_*`, `sock_*` and `fd_renumber` other than the above: see `on_fd`. Never touches memory.
pub(crate) fn fd_other(fd: i32) -> i32 {
    on_fd(fd)
}

/// `fd_prestat_get`, `fd_prestat_dir_name` and every `path_*`: EBADF, there are no preopened
/// directories (wasi-libc stops scanning for them at the first EBADF). Never touches memory.
pub(crate) fn no_dir() -> i32 {
    errno::BADF
}

/// `poll_oneoff`, `proc_raise` and the rest: ENOSYS. Never touches memory.
pub(crate) fn nosys() -> i32 {
    errno::NOSYS
}

/// `sched_yield() -> errno`: succeeds; there is nothing to yield to inside one event.
pub(crate) fn sched_yield(_ctx: Ctx) -> i32 {
    errno::SUCCESS
}

/// `proc_exit(code)`: stops the guest with a GuestError of kind `abort`, `proc_exit(code)`; the
/// instance is replaced like any failing guest.
pub(crate) fn proc_exit(mut ctx: Ctx, code: i32) -> Result<(), RuntimeError> {
    let env = ctx.data_mut();
    Err(env.fail(Kind::Abort, format!("proc_exit({})", code as u32)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::bridge::shared::Shared;
    use crate::instance::outbox::HEADER;
    use crate::policy::dial::Dialer;
    use crate::policy::limits::Limits;

    fn env() -> HostEnv {
        let mut env = HostEnv::new(
            Limits::new(1 << 20),
            Dialer::default(),
            Arc::from(&b""[..]),
            Arc::new(Shared::new(1 << 20)),
        );
        env.begin_event();
        env
    }

    /// The `'log'` lines in the outbox as `(level, text)`.
    fn lines(env: &HostEnv) -> Vec<(u8, String)> {
        let mut out = Vec::new();
        let mut buf = env.out.bytes();
        while !buf.is_empty() {
            let len = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize;
            out.push((
                buf[1],
                String::from_utf8_lossy(&buf[HEADER..HEADER + len]).into_owned(),
            ));
            buf = &buf[HEADER + len..];
        }
        out
    }

    #[test]
    fn output_is_split_on_newlines_and_partial_lines_wait_for_the_end_of_the_event() {
        let mut env = env();
        env.wasi_output(0, b"one\ntw");
        env.wasi_output(0, b"o\r\nthr");
        env.wasi_output(1, b"oops");
        assert_eq!(
            lines(&env),
            vec![(level::LOG, "one".into()), (level::LOG, "two".into())]
        );
        env.end_event();
        assert_eq!(
            lines(&env)[2..],
            [(level::LOG, "thr".into()), (level::ERROR, "oops".into())]
        );
        env.end_event();
        assert_eq!(lines(&env).len(), 4);
    }

    #[test]
    fn a_line_longer_than_64_kib_is_cut_into_pieces_and_nothing_more_is_held() {
        let mut env = env();
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        env.wasi_output(1, &long[..MAX_LINE - 1]);
        env.wasi_output(1, &long[MAX_LINE - 1..]);
        assert!(env.wasi.pending[1].len() == 10);
        env.wasi_output(1, b"\n");
        let got = lines(&env);
        assert_eq!(
            got.iter().map(|(l, t)| (*l, t.len())).collect::<Vec<_>>(),
            vec![
                (level::ERROR, MAX_LINE),
                (level::ERROR, MAX_LINE),
                (level::ERROR, 10)
            ]
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_not_refused() {
        let mut env = env();
        env.wasi_output(0, b"a\xffb\n");
        assert_eq!(lines(&env), vec![(level::LOG, "a\u{fffd}b".into())]);
    }

    #[test]
    fn every_clock_answers_and_unknown_ones_do_not() {
        let env = env();
        let real = clock_now(&env, 0).unwrap();
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        assert!(since_epoch.as_nanos() as u64 - real < 1_000_000_000);
        let a = clock_now(&env, 1).unwrap();
        let b = clock_now(&env, 1).unwrap();
        assert!(b >= a);
        assert!(clock_now(&env, 2).is_some() && clock_now(&env, 3).is_some());
        assert_eq!(clock_now(&env, 4), None);
        assert_eq!(clock_now(&env, -1), None);
    }
}
