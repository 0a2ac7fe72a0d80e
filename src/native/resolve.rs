//! Name resolution for a worker's native dials, off the worker thread: a worker never blocks on
//! DNS. Lookups (blocking `getaddrinfo`, through `ToSocketAddrs`) run on a few resolver threads
//! of the worker's own, started when first needed (one more each time every one is busy, up to
//! `THREADS`, as libuv's pool of 4 serves Node's `dns.lookup`); each answer goes back over a
//! channel and wakes the worker's poll.
//!
//! Bounded: at most `MAX_PENDING` lookups queued or running per worker; past it a dial fails
//! (the guest hears `onError`, `onClose`). A dial closed while its name resolves is cancelled:
//! a lookup not yet started is skipped, and an answer for it is dropped.

use std::collections::HashSet;
use std::hash::BuildHasherDefault;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, unbounded};
use parking_lot::Mutex;

use crate::bridge::ids::IdHasher;

/// Most lookups queued or running at once on one worker.
pub const MAX_PENDING: usize = 1024;
/// Most resolver threads per worker.
const THREADS: usize = 4;
/// Stack of a resolver thread: getaddrinfo needs little (NSS modules included).
const STACK: usize = 256 << 10;

/// What a resolver thread is asked: the addresses of `host:port`, for dial `id`.
struct Lookup {
    id: u32,
    host: String,
    port: u16,
}

/// A lookup's outcome: the addresses in the order the system resolver gave them.
pub struct Answer {
    pub id: u32,
    pub addrs: io::Result<Vec<SocketAddr>>,
}

type Wanted = Arc<Mutex<HashSet<u32, BuildHasherDefault<IdHasher>>>>;

pub struct Resolver {
    /// Where lookups queue; resolver threads share the receiving end.
    requests: Sender<Lookup>,
    queue: Receiver<Lookup>,
    answers_tx: Sender<Answer>,
    answers: Receiver<Answer>,
    /// Dials still waiting for their lookup (cancelled ones leave it).
    wanted: Wanted,
    /// Called after each answer is sent: wakes the worker's poll.
    wake: Arc<dyn Fn() + Send + Sync>,
    /// The worker's index, for the threads' names.
    worker: u8,
    threads: usize,
    /// Lookups sent and not yet answered (cancelled ones included until their answer).
    pending: usize,
}

impl Resolver {
    pub fn new(worker: u8, wake: Arc<dyn Fn() + Send + Sync>) -> Resolver {
        let (requests, queue) = bounded(MAX_PENDING);
        let (answers_tx, answers) = unbounded();
        Resolver {
            requests,
            queue,
            answers_tx,
            answers,
            wanted: Arc::default(),
            wake,
            worker,
            threads: 0,
            pending: 0,
        }
    }

    /// Asks for the addresses of `host:port` for dial `id`; the answer comes from `next`.
    /// Refused, with why, when `MAX_PENDING` lookups are pending or no thread can be started.
    pub fn lookup(&mut self, id: u32, host: &str, port: u16) -> Result<(), String> {
        if self.pending >= MAX_PENDING {
            return Err(format!("{MAX_PENDING} name lookups are pending"));
        }
        if self.pending >= self.threads && self.threads < THREADS {
            // Every thread is busy (or there is none yet): one more.
            match self.spawn() {
                Ok(()) => self.threads += 1,
                Err(e) if self.threads == 0 => return Err(format!("cannot start a resolver: {e}")),
                // The threads there are will get to it.
                Err(_) => {}
            }
        }
        let lookup = Lookup {
            id,
            host: host.to_string(),
            port,
        };
        self.wanted.lock().insert(id);
        match self.requests.try_send(lookup) {
            Ok(()) => {
                self.pending += 1;
                Ok(())
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.wanted.lock().remove(&id);
                Err(format!("{MAX_PENDING} name lookups are pending"))
            }
        }
    }

    /// Dial `id` is gone: its lookup is skipped if not started, its answer dropped.
    pub fn cancel(&mut self, id: u32) {
        self.wanted.lock().remove(&id);
    }

    /// The next answer for a dial still waiting, if one has arrived (never blocks).
    pub fn next(&mut self) -> Option<Answer> {
        while let Ok(answer) = self.answers.try_recv() {
            self.pending = self.pending.saturating_sub(1);
            if self.wanted.lock().remove(&answer.id) {
                return Some(answer);
            }
        }
        None
    }

    fn spawn(&self) -> io::Result<()> {
        let queue = self.queue.clone();
        let answers = self.answers_tx.clone();
        let wanted = self.wanted.clone();
        let wake = self.wake.clone();
        std::thread::Builder::new()
            .name(format!("wsb-resolve-{}", self.worker))
            .stack_size(STACK)
            .spawn(move || {
                // Ends when the worker's `Resolver` is dropped (its sender with it).
                while let Ok(Lookup { id, host, port }) = queue.recv() {
                    let addrs = if wanted.lock().contains(&id) {
                        resolve(&host, port)
                    } else {
                        Err(io::Error::other("cancelled"))
                    };
                    if answers.send(Answer { id, addrs }).is_err() {
                        return;
                    }
                    wake();
                }
            })
            .map(drop)
    }
}

/// The addresses of `host:port`, in the order the system resolver gives them; an error when
/// there are none.
pub fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host} has no address"),
        ));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// A resolver whose wake-ups count on a channel the test waits on.
    fn resolver() -> (Resolver, Receiver<()>) {
        let (tx, rx) = unbounded();
        let wake = Arc::new(move || {
            let _ = tx.send(());
        });
        (Resolver::new(0, wake), rx)
    }

    /// Waits for the next answer (each is announced by a wake-up).
    fn answer(r: &mut Resolver, woken: &Receiver<()>) -> Answer {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(a) = r.next() {
                return a;
            }
            woken
                .recv_deadline(deadline)
                .expect("no answer within 20 s");
        }
    }

    #[test]
    fn resolves_localhost_on_a_thread_of_its_own_and_wakes_the_worker() {
        let (mut r, woken) = resolver();
        r.lookup(5, "localhost", 8080).unwrap();
        let a = answer(&mut r, &woken);
        assert_eq!(a.id, 5);
        let addrs = a.addrs.unwrap();
        assert!(
            addrs
                .iter()
                .all(|s| s.port() == 8080 && s.ip().is_loopback()),
            "{addrs:?}"
        );
        assert_eq!(r.pending, 0);
        assert_eq!(r.threads, 1);
    }

    #[test]
    fn a_name_that_does_not_resolve_is_an_error_answer() {
        let (mut r, woken) = resolver();
        r.lookup(1, "no-such-host.invalid", 80).unwrap();
        assert!(answer(&mut r, &woken).addrs.is_err());
    }

    #[test]
    fn a_cancelled_lookup_gives_no_answer_and_frees_its_slot() {
        let (mut r, woken) = resolver();
        r.lookup(1, "localhost", 1).unwrap();
        r.cancel(1);
        r.lookup(2, "localhost", 2).unwrap();
        let a = answer(&mut r, &woken);
        assert_eq!(a.id, 2, "the answer for the cancelled dial is dropped");
        let deadline = Instant::now() + Duration::from_secs(20);
        while r.pending > 0 {
            woken
                .recv_deadline(deadline)
                .expect("the cancelled lookup was never answered");
            assert!(r.next().is_none());
        }
    }

    #[test]
    fn refuses_lookups_past_the_bound() {
        let (mut r, _woken) = resolver();
        // As if MAX_PENDING were queued and unanswered.
        r.pending = MAX_PENDING;
        let err = r.lookup(9, "localhost", 80).unwrap_err();
        assert!(err.contains("1024 name lookups are pending"), "{err}");
    }
}
