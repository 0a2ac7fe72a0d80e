//! Pingpong load generator: N connections to 127.0.0.1:PORT, each sending a fixed-size message
//! and waiting for the whole echo before sending the next, for a bounded time. Prints one JSON
//! line: messages per second and round-trip latency percentiles. Loopback only.
//!
//! usage: wsb-loadgen pingpong PORT [connections=50] [size=64] [seconds=5] [reply=size]
//!
//! With `reply` different from `size`, each message is `size - 1` bytes and a newline, the
//! answer is `reply` bytes ending in a newline (a line protocol, as the hash guest speaks), and
//! answers are not compared with the message.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some("pingpong") || args.len() < 3 {
        eprintln!(
            "usage: wsb-loadgen pingpong PORT [connections=50] [size=64] [seconds=5] [reply=size]"
        );
        std::process::exit(2);
    }
    let port: u16 = arg(&args, 2, 0);
    let conns: usize = arg(&args, 3, 50);
    let size: usize = arg(&args, 4, 64);
    let seconds: f64 = arg(&args, 5, 5.0);
    let reply: usize = arg(&args, 6, size);
    let echo = reply == size;
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    let barrier = Arc::new(Barrier::new(conns + 1));
    let duration = Duration::from_secs_f64(seconds.clamp(0.1, 120.0));

    let workers: Vec<_> = (0..conns)
        .map(|c| {
            let barrier = barrier.clone();
            thread::spawn(move || -> Result<Vec<u32>, String> {
                let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
                s.set_nodelay(true).ok();
                s.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let mut msg: Vec<u8> = (0..size).map(|i| (i + c) as u8).collect();
                if !echo {
                    msg = (0..size).map(|i| b'a' + ((i + c) % 26) as u8).collect();
                    msg[size - 1] = b'\n';
                }
                let mut buf = vec![0u8; reply];
                let mut lat = Vec::with_capacity(1 << 16);
                barrier.wait();
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
                    lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                }
                Ok(lat)
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let mut all = Vec::new();
    let mut errors = Vec::new();
    for w in workers {
        match w.join() {
            Ok(Ok(l)) => all.extend(l),
            Ok(Err(e)) => errors.push(e),
            Err(_) => errors.push("worker panicked".into()),
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        if all.is_empty() {
            0
        } else {
            all[((all.len() - 1) as f64 * p) as usize]
        }
    };
    println!(
        "{{\"messages\":{},\"seconds\":{:.3},\"msgsPerSec\":{:.0},\"p50us\":{},\"p99us\":{},\"errors\":{}}}",
        all.len(),
        elapsed,
        all.len() as f64 / elapsed,
        pct(0.5),
        pct(0.99),
        errors.len()
    );
    if !errors.is_empty() {
        eprintln!("errors: {:?}", &errors[..errors.len().min(5)]);
        std::process::exit(1);
    }
}
