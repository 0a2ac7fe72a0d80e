//! A test guest that uses Rust's std the usual way, to show what WASI answers. Each line a
//! client sends is a command; the answer is one line.
//!
//!   println <text>  println!: a 'log' line; answers "ok"
//!   eprint <text>   eprint! with no newline: a partial 'error' line held until the event ends
//!   time            "time <ms since the epoch>" (SystemTime)
//!   elapsed         "elapsed <ns>" between two Instant::now() calls (monotonic, never negative)
//!   env             "env <number of variables> <number of args>"
//!   file            "file <error>" of std::fs::read("/etc/passwd") (no capabilities)
//!   stdin           "stdin <error or byte count>" of reading stdin
//!   panic           panic!("guest panicked on purpose"): the message as an error line, then a trap
//!   sleep           std::thread::sleep(1 ms): poll_oneoff answers ENOSYS, so std panics
//!   exit <n>        std::process::exit(n): GuestError abort proc_exit(n)
//!
//! And the SDK's shared-store wrappers (`-` stands for None):
//!
//!   set <k> <v>             Shared::set: "set ok"
//!   setif <k> <old> <new>   Shared::set_if: "setif true" / "setif false"
//!   keys <prefix>           Shared::keys: "keys k1,k2,.."
use std::io::Read;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use wasm_socket_bridge_guest::{export_guest, Guest, Shared, Socket};

#[derive(Default)]
struct Wasi;

fn answer(id: u32, text: &str) {
    Socket::write(id, format!("{text}\n").as_bytes());
}

impl Guest for Wasi {
    fn on_data(&mut self, id: u32, data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let line = text.trim_end_matches('\n');
        let (cmd, arg) = line.split_once(' ').unwrap_or((line, ""));
        match cmd {
            "println" => {
                println!("{arg}");
                answer(id, "ok");
            }
            "eprint" => {
                eprint!("{arg}");
                answer(id, "ok");
            }
            "time" => {
                let ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_millis();
                answer(id, &format!("time {ms}"));
            }
            "elapsed" => {
                let a = Instant::now();
                let b = Instant::now();
                answer(id, &format!("elapsed {}", b.duration_since(a).as_nanos()));
            }
            "env" => answer(
                id,
                &format!(
                    "env {} {}",
                    std::env::vars().count(),
                    std::env::args().count()
                ),
            ),
            "file" => match std::fs::read("/etc/passwd") {
                Ok(_) => answer(id, "file opened"),
                Err(e) => answer(id, &format!("file {e}")),
            },
            "stdin" => {
                let mut buf = [0u8; 16];
                match std::io::stdin().read(&mut buf) {
                    Ok(n) => answer(id, &format!("stdin {n} bytes")),
                    Err(e) => answer(id, &format!("stdin {e}")),
                }
            }
            "panic" => panic!("guest panicked on purpose"),
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_millis(1));
                answer(id, "slept");
            }
            "exit" => std::process::exit(arg.parse().unwrap_or(1)),
            "set" => {
                let (k, v) = arg.split_once(' ').unwrap_or((arg, ""));
                match Shared::set(k.as_bytes(), v.as_bytes()) {
                    Ok(()) => answer(id, "set ok"),
                    Err(e) => answer(id, &format!("set {e}")),
                }
            }
            "setif" => {
                let parts: Vec<&str> = arg.split(' ').collect();
                let opt = |s: &str| {
                    if s == "-" {
                        None
                    } else {
                        Some(s.as_bytes().to_vec())
                    }
                };
                let (old, new) = (opt(parts[1]), opt(parts[2]));
                match Shared::set_if(parts[0].as_bytes(), old.as_deref(), new.as_deref()) {
                    Ok(done) => answer(id, &format!("setif {done}")),
                    Err(e) => answer(id, &format!("setif {e}")),
                }
            }
            "keys" => match Shared::keys(arg.as_bytes()) {
                Some(keys) => {
                    let names: Vec<String> = keys
                        .iter()
                        .map(|k| String::from_utf8_lossy(k).into_owned())
                        .collect();
                    answer(id, &format!("keys {}", names.join(",")))
                }
                None => answer(id, "keys refused"),
            },
            _ => answer(id, "unknown"),
        }
    }
}

export_guest!(Wasi);
