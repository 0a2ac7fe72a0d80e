//! Load generator for the wasm-socket-bridge benchmarks, and a reference echo server. Loopback
//! only (127.0.0.1), std only. Every load subcommand prints one JSON line on stdout and exits 1
//! (after printing it, with the first errors on stderr) if any connection failed or any echoed
//! byte differed from what was sent.
//!
//! ```text
//! wsb-loadgen pingpong PORT [connections=50] [size=64] [seconds=5] [reply=size]
//! wsb-loadgen stream   PORT [connections=1] [write=65536] [seconds=5] [window=4194304]
//! wsb-loadgen churn    PORT [concurrency=8] [size=32] [seconds=5]
//! wsb-loadgen idle     PORT [connections=5000] [hold=600] [source=127.0.0.1]
//! wsb-loadgen echo-server [PORT=0] [bind=127.0.0.1]
//! ```
//!
//! - `pingpong`: N connections, each sending a `size`-byte message and waiting for the whole echo
//!   before sending the next, for `seconds`. With `reply` different from `size`, each message is
//!   `size - 1` bytes and a newline, the answer is `reply` bytes ending in a newline (a line
//!   protocol, as the hash guest speaks), and answers are not compared with the message.
//!   `{"messages","seconds","msgsPerSec","p50us","p99us","errors"}`
//! - `stream`: N connections, each with a writer thread sending `write`-byte writes continuously
//!   for `seconds` (at most `window` bytes sent and not yet echoed; 0: no limit) and a reader
//!   thread checking every echoed byte against the connection's own pseudo-random pattern (a
//!   cyclic xorshift stream, a prime period of 1,048,573 bytes, seeded per connection). After the
//!   deadline the writers stop and the readers drain the rest. A mismatch is a hard error.
//!   `{"connections","writeBytes","bytes","seconds","mibPerSec","errors"}` (`bytes`: echoed and
//!   verified, `seconds`: from the start until the last connection had its last byte back).
//! - `churn`: N concurrent loops of connect, write `size` bytes, read the echo, compare, close.
//!   `{"connections","seconds","connsPerSec","p50us","p99us","errors"}` (latency: one whole loop).
//! - `idle`: opens N connections (16 threads), each checked with a one-byte echo, prints
//!   `{"connections","openSeconds","errors"}` once all are open, then holds them open, idle,
//!   until its stdin reaches end of file or `hold` seconds pass, and exits. `source` (a
//!   127.x.y.z address) is bound before each connect: one source address has only the ephemeral
//!   port range's ports (`/proc/sys/net/ipv4/ip_local_port_range`, 28,232 by default) towards one
//!   server port, so 50,000 connections need two or more (bench/run.js runs one process each).
//! - `echo-server`: a thread-per-connection echo server (64 KiB buffer, TCP_NODELAY). Prints its
//!   port on the first line, then serves until killed. The reference for "the load generator is
//!   not the bottleneck".

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

const USAGE: &str = "usage:
  wsb-loadgen pingpong PORT [connections=50] [size=64] [seconds=5] [reply=size]
  wsb-loadgen stream   PORT [connections=1] [write=65536] [seconds=5] [window=4194304]
  wsb-loadgen churn    PORT [concurrency=8] [size=32] [seconds=5]
  wsb-loadgen idle     PORT [connections=5000] [hold=600] [source=127.0.0.1]
  wsb-loadgen echo-server [PORT=0] [bind=127.0.0.1]";

/// Positional argument `i` (counting from the subcommand's first), or `default` when absent;
/// a present but unparsable argument is a usage error.
fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    match args.get(i) {
        None => default,
        Some(s) => s.parse().unwrap_or_else(|_| {
            eprintln!("bad argument {s:?}\n{USAGE}");
            std::process::exit(2)
        }),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = args.first().map(String::as_str).unwrap_or("");
    let rest = args.get(1..).unwrap_or(&[]);
    if cmd == "echo-server" {
        return echo_server(rest);
    }
    if rest.is_empty() {
        eprintln!("{USAGE}");
        std::process::exit(2);
    }
    let port: u16 = arg(rest, 0, 0);
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    let errors = match cmd {
        "pingpong" => pingpong(addr, rest),
        "stream" => stream(addr, rest),
        "churn" => churn(addr, rest),
        "idle" => idle(addr, rest),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    if !errors.is_empty() {
        eprintln!(
            "{} error(s), the first: {:?}",
            errors.len(),
            &errors[..errors.len().min(5)]
        );
        std::process::exit(1);
    }
}

fn duration_arg(args: &[String], i: usize) -> Duration {
    Duration::from_secs_f64(arg(args, i, 5.0f64).clamp(0.1, 600.0))
}

/// Joins worker threads, collecting their results and errors.
fn join_all<T>(workers: Vec<thread::JoinHandle<Result<T, String>>>) -> (Vec<T>, Vec<String>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for w in workers {
        match w.join() {
            Ok(Ok(v)) => ok.push(v),
            Ok(Err(e)) => errors.push(e),
            Err(_) => errors.push("worker panicked".into()),
        }
    }
    (ok, errors)
}

/// Percentile `p` (0..1) of sorted latencies, 0 when empty.
fn pct(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        0
    } else {
        sorted[((sorted.len() - 1) as f64 * p) as usize]
    }
}

/// Releases workers waiting on `barrier`, waits for them, and prints how many round trips they
/// timed (`count`), the rate (`rate`) and the latency percentiles as one JSON line.
fn timed_run(
    barrier: &Barrier,
    workers: Vec<thread::JoinHandle<Result<Vec<u32>, String>>>,
    count: &str,
    rate: &str,
) -> Vec<String> {
    barrier.wait();
    let start = Instant::now();
    let (lats, errors) = join_all(workers);
    let elapsed = start.elapsed().as_secs_f64();
    let mut all: Vec<u32> = lats.into_iter().flatten().collect();
    all.sort_unstable();
    println!(
        "{{\"{count}\":{},\"seconds\":{:.3},\"{rate}\":{:.0},\"p50us\":{},\"p99us\":{},\"errors\":{}}}",
        all.len(),
        elapsed,
        all.len() as f64 / elapsed,
        pct(&all, 0.5),
        pct(&all, 0.99),
        errors.len()
    );
    errors
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}

// ---------------------------------------------------------------------------------------------
// pingpong

fn pingpong(addr: SocketAddrV4, args: &[String]) -> Vec<String> {
    let conns: usize = arg(args, 1, 50).max(1);
    let size: usize = arg(args, 2, 64).max(1);
    let duration = duration_arg(args, 3);
    let reply: usize = arg(args, 4, size).max(1);
    let echo = reply == size;
    let barrier = Arc::new(Barrier::new(conns + 1));

    let workers: Vec<_> = (0..conns)
        .map(|c| {
            let barrier = barrier.clone();
            thread::spawn(move || -> Result<Vec<u32>, String> {
                let conn = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"));
                barrier.wait();
                let mut s = conn?;
                s.set_nodelay(true).ok();
                s.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let mut msg: Vec<u8> = (0..size).map(|i| (i + c) as u8).collect();
                if !echo {
                    msg = (0..size).map(|i| b'a' + ((i + c) % 26) as u8).collect();
                    msg[size - 1] = b'\n';
                }
                let mut buf = vec![0u8; reply];
                let mut lat = Vec::with_capacity(1 << 16);
                let start = Instant::now();
                while start.elapsed() < duration {
                    let t = Instant::now();
                    s.write_all(&msg).map_err(|e| format!("write: {e}"))?;
                    s.read_exact(&mut buf).map_err(|e| format!("read: {e}"))?;
                    if echo && buf != msg {
                        return Err("echo mismatch".into());
                    }
                    if !echo && buf[reply - 1] != b'\n' {
                        return Err("answer does not end its line".into());
                    }
                    lat.push(micros(t.elapsed()));
                }
                Ok(lat)
            })
        })
        .collect();
    timed_run(&barrier, workers, "messages", "msgsPerSec")
}

// ---------------------------------------------------------------------------------------------
// stream

/// The pattern's period: a prime, so that no whole number of writes (or of any power-of-two
/// read size) lines up with it, and a reordered or repeated chunk is seen.
const PATTERN_PERIOD: usize = 1_048_573;

/// Connection `conn`'s pattern: PATTERN_PERIOD pseudo-random bytes (xorshift64*), followed by
/// the first `extra` of them again, so that any `extra` bytes from any offset < PATTERN_PERIOD
/// are one contiguous slice.
fn pattern(conn: usize, extra: usize) -> Vec<u8> {
    let mut x: u64 = (conn as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut p = Vec::with_capacity(PATTERN_PERIOD + extra);
    while p.len() < PATTERN_PERIOD {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        let n = (PATTERN_PERIOD - p.len()).min(8);
        p.extend_from_slice(&v[..n]);
    }
    p.extend_from_within(..extra);
    p
}

/// Bytes echoed (and verified) so far on one connection; the writer waits on it for its window.
struct Progress {
    received: Mutex<u64>,
    cv: Condvar,
}

/// How long a stream reader waits for the next echoed byte before it gives up.
const STALL: Duration = Duration::from_secs(10);

struct StreamResult {
    bytes: u64,
    done: Instant,
}

fn stream(addr: SocketAddrV4, args: &[String]) -> Vec<String> {
    let conns: usize = arg(args, 1, 1).max(1);
    let write: usize = arg(args, 2, 65536).clamp(1, 16 << 20);
    let duration = duration_arg(args, 3);
    let window: u64 = arg(args, 4, 4u64 << 20);
    let window = if window == 0 {
        u64::MAX
    } else {
        window.max(write as u64)
    };
    let read_size = 65536;
    let barrier = Arc::new(Barrier::new(conns + 1));
    let failed = Arc::new(AtomicBool::new(false));

    let workers: Vec<_> = (0..conns)
        .map(|c| {
            let barrier = barrier.clone();
            let failed = failed.clone();
            thread::spawn(move || -> Result<StreamResult, String> {
                let pat = Arc::new(pattern(c, write.max(read_size)));
                let conn = TcpStream::connect(addr).map_err(|e| format!("conn {c}: connect: {e}"));
                barrier.wait();
                let mut ws = conn?;
                ws.set_nodelay(true).ok();
                let mut rs = ws
                    .try_clone()
                    .map_err(|e| format!("conn {c}: clone: {e}"))?;
                rs.set_read_timeout(Some(Duration::from_millis(50))).ok();
                let progress = Arc::new(Progress {
                    received: Mutex::new(0),
                    cv: Condvar::new(),
                });
                let start = Instant::now();

                let writer = {
                    let (pat, progress, failed) = (pat.clone(), progress.clone(), failed.clone());
                    thread::spawn(move || -> Result<u64, String> {
                        let mut sent: u64 = 0;
                        while start.elapsed() < duration && !failed.load(Ordering::Relaxed) {
                            {
                                let mut got = progress.received.lock().unwrap();
                                while sent - *got + write as u64 > window {
                                    got = progress
                                        .cv
                                        .wait_timeout(got, Duration::from_millis(100))
                                        .unwrap()
                                        .0;
                                    if failed.load(Ordering::Relaxed) {
                                        return Ok(sent);
                                    }
                                }
                            }
                            let off = (sent % PATTERN_PERIOD as u64) as usize;
                            ws.write_all(&pat[off..off + write])
                                .map_err(|e| format!("conn {c}: write: {e}"))?;
                            sent += write as u64;
                        }
                        Ok(sent)
                    })
                };

                // The reader: every byte against the pattern, until the writer has stopped and
                // everything it sent is back.
                let mut buf = vec![0u8; read_size];
                let mut received: u64 = 0;
                let mut sent_total: Option<u64> = None;
                let mut writer = Some(writer);
                let mut last_progress = Instant::now();
                let result = loop {
                    if let Some(total) = sent_total {
                        if received >= total {
                            break Ok(());
                        }
                    } else if writer.as_ref().is_some_and(|w| w.is_finished()) {
                        match writer.take().unwrap().join() {
                            Ok(Ok(total)) => {
                                sent_total = Some(total);
                                continue;
                            }
                            Ok(Err(e)) => break Err(e),
                            Err(_) => break Err(format!("conn {c}: writer panicked")),
                        }
                    }
                    let n = match rs.read(&mut buf) {
                        Ok(0) => {
                            break Err(format!("conn {c}: server closed after {received} bytes"));
                        }
                        Ok(n) => n,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        // A short timeout, to see the writer stop even when nothing is in flight.
                        Err(e)
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
                                && last_progress.elapsed() < STALL =>
                        {
                            continue;
                        }
                        Err(e) => break Err(format!("conn {c}: read after {received} bytes: {e}")),
                    };
                    last_progress = Instant::now();
                    let off = (received % PATTERN_PERIOD as u64) as usize;
                    if buf[..n] != pat[off..off + n] {
                        let i = (0..n).find(|&i| buf[i] != pat[off + i]).unwrap_or(0);
                        break Err(format!(
                            "conn {c}: echo mismatch at byte {} (got {:#04x}, sent {:#04x})",
                            received + i as u64,
                            buf[i],
                            pat[off + i]
                        ));
                    }
                    received += n as u64;
                    *progress.received.lock().unwrap() = received;
                    progress.cv.notify_one();
                };
                let done = Instant::now();
                if result.is_err() {
                    failed.store(true, Ordering::Relaxed);
                    progress.cv.notify_one();
                    rs.shutdown(Shutdown::Both).ok();
                }
                if let Some(w) = writer {
                    w.join().ok();
                }
                result.map(|()| StreamResult {
                    bytes: received,
                    done,
                })
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let (results, errors) = join_all(workers);
    let last = results
        .iter()
        .map(|r| r.done)
        .max()
        .unwrap_or_else(Instant::now);
    let elapsed = last
        .saturating_duration_since(start)
        .as_secs_f64()
        .max(1e-9);
    let bytes: u64 = results.iter().map(|r| r.bytes).sum();
    println!(
        "{{\"connections\":{},\"writeBytes\":{},\"bytes\":{},\"seconds\":{:.3},\"mibPerSec\":{:.1},\"errors\":{}}}",
        conns,
        write,
        bytes,
        elapsed,
        bytes as f64 / elapsed / (1 << 20) as f64,
        errors.len()
    );
    errors
}

// ---------------------------------------------------------------------------------------------
// churn

fn churn(addr: SocketAddrV4, args: &[String]) -> Vec<String> {
    let loops: usize = arg(args, 1, 8).max(1);
    let size: usize = arg(args, 2, 32).max(1);
    let duration = duration_arg(args, 3);
    let barrier = Arc::new(Barrier::new(loops + 1));

    let workers: Vec<_> = (0..loops)
        .map(|l| {
            let barrier = barrier.clone();
            thread::spawn(move || -> Result<Vec<u32>, String> {
                let mut msg = vec![0u8; size];
                let mut buf = vec![0u8; size];
                let mut lat = Vec::with_capacity(1 << 14);
                barrier.wait();
                let start = Instant::now();
                let mut n: u64 = 0;
                while start.elapsed() < duration {
                    for (i, b) in msg.iter_mut().enumerate() {
                        *b = (n as usize + i * 7 + l * 13) as u8;
                    }
                    let t = Instant::now();
                    let mut s = TcpStream::connect(addr)
                        .map_err(|e| format!("loop {l}: connect #{n}: {e}"))?;
                    s.set_nodelay(true).ok();
                    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
                    s.write_all(&msg)
                        .map_err(|e| format!("loop {l}: write #{n}: {e}"))?;
                    s.read_exact(&mut buf)
                        .map_err(|e| format!("loop {l}: read #{n}: {e}"))?;
                    if buf != msg {
                        return Err(format!("loop {l}: echo mismatch on connection #{n}"));
                    }
                    drop(s);
                    lat.push(micros(t.elapsed()));
                    n += 1;
                }
                Ok(lat)
            })
        })
        .collect();
    timed_run(&barrier, workers, "connections", "connsPerSec")
}

// ---------------------------------------------------------------------------------------------
// idle

fn idle(addr: SocketAddrV4, args: &[String]) -> Vec<String> {
    let conns: usize = arg(args, 1, 5000);
    let hold = Duration::from_secs_f64(arg(args, 2, 600.0f64).clamp(0.0, 86_400.0));
    let source: Ipv4Addr = arg(args, 3, Ipv4Addr::LOCALHOST);
    if !source.is_loopback() {
        eprintln!("idle: source {source} is not a loopback address (127.0.0.0/8)");
        std::process::exit(2);
    }
    let threads = 16.min(conns.max(1));
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let count = conns / threads + usize::from(t < conns % threads);
            thread::spawn(move || -> Result<Vec<TcpStream>, String> {
                let mut held = Vec::with_capacity(count);
                for i in 0..count {
                    let mut s = connect_from(source, addr)
                        .map_err(|e| format!("thread {t}: connect #{i} from {source}: {e}"))?;
                    s.set_nodelay(true).ok();
                    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
                    let b = [(i + t) as u8];
                    let mut r = [0u8];
                    s.write_all(&b)
                        .map_err(|e| format!("thread {t}: write #{i}: {e}"))?;
                    s.read_exact(&mut r)
                        .map_err(|e| format!("thread {t}: read #{i}: {e}"))?;
                    if r != b {
                        return Err(format!("thread {t}: echo mismatch on connection #{i}"));
                    }
                    held.push(s);
                }
                Ok(held)
            })
        })
        .collect();
    let (held, errors) = join_all(workers);
    let open: usize = held.iter().map(Vec::len).sum();
    println!(
        "{{\"connections\":{},\"openSeconds\":{:.3},\"errors\":{}}}",
        open,
        start.elapsed().as_secs_f64(),
        errors.len()
    );
    std::io::stdout().flush().ok();
    if errors.is_empty() {
        // Hold until stdin closes (the harness is done measuring) or `hold` passes.
        let (tx, rx) = mpsc::channel::<()>();
        thread::spawn(move || {
            let mut sink = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            tx.send(()).ok();
        });
        rx.recv_timeout(hold).ok();
    }
    drop(held);
    errors
}

/// A connection to `addr` from `source` (port chosen by the kernel); from 127.0.0.1 a plain
/// connect, which binds the same way.
fn connect_from(source: Ipv4Addr, addr: SocketAddrV4) -> std::io::Result<TcpStream> {
    if source == Ipv4Addr::LOCALHOST {
        return TcpStream::connect(addr);
    }
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    bind_address_no_port(&s)?;
    s.bind(&SocketAddrV4::new(source, 0).into())?;
    s.connect(&addr.into())?;
    Ok(s.into())
}

/// Linux: leave the port to `connect`. A port picked at `bind` is reserved for every address and
/// destination (plain connects elsewhere, even from 127.0.0.1, skip it, TIME_WAIT included), so
/// tens of thousands of bound sockets would exhaust the range for everyone; picked at `connect`,
/// it only has to make the 4-tuple unique.
#[cfg(target_os = "linux")]
fn bind_address_no_port(s: &socket2::Socket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a pointer to a c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn bind_address_no_port(_: &socket2::Socket) -> std::io::Result<()> {
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// echo-server

fn echo_server(args: &[String]) {
    let port: u16 = arg(args, 0, 0);
    let bind: Ipv4Addr = arg(args, 1, Ipv4Addr::LOCALHOST);
    let listener = TcpListener::bind(SocketAddrV4::new(bind, port)).unwrap_or_else(|e| {
        eprintln!("echo-server: bind: {e}");
        std::process::exit(1)
    });
    println!("{}", listener.local_addr().map(|a| a.port()).unwrap_or(0));
    std::io::stdout().flush().ok();
    for conn in listener.incoming() {
        let Ok(mut s) = conn else { continue };
        thread::spawn(move || {
            s.set_nodelay(true).ok();
            let mut buf = vec![0u8; 65536];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        });
    }
}
