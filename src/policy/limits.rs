//! Per-bridge limits that bound what one connection can make the host hold.

/// A connection's queued output may reach this many times `highWaterMark`...
pub const HARD_CAP_FACTOR: usize = 4;
/// ...but never less than this, so one full 64 KiB read echoed back cannot trip it even with a
/// small `highWaterMark`.
pub const HARD_CAP_MIN: usize = 256 * 1024;

/// With worker threads, JS stops reading a socket while its worker has this many times
/// `highWaterMark` of the connection's input still to consume (the input window). Several chunks
/// in flight keep a stream flowing while the worker runs; one (a window of one `highWaterMark`)
/// halved stream throughput.
pub const INPUT_WINDOW_FACTOR: usize = 4;
/// Largest chunk one socket read delivers (libuv reads at most 64 KiB): how far the input in
/// flight can pass the window before JS pauses the socket.
pub const MAX_READ: usize = 64 * 1024;

/// Default `highWaterMark`: Node's own default for a socket.
pub const DEFAULT_HIGH_WATER_MARK: usize = 64 * 1024;

/// Most worker threads (`threads`; JS refuses more): a worker's index travels as a `u8` in
/// `Connect` records.
pub const MAX_THREADS: usize = 256;

/// Largest `highWaterMark` (JS refuses more): keeps the hard cap, and so any one batch record,
/// far below the 4 GiB a record length can describe.
pub const MAX_HIGH_WATER_MARK: usize = 256 << 20;

/// Default `maxEventOutputBytes`: what one event's output may take in the outbox.
pub const DEFAULT_MAX_EVENT_OUTPUT: usize = 64 << 20;
/// Smallest and largest `maxEventOutputBytes` (JS refuses others): a batch must stay far below
/// the 4 GiB a record length can describe.
pub const MIN_MAX_EVENT_OUTPUT: usize = 1 << 20;
pub const MAX_MAX_EVENT_OUTPUT: usize = 1 << 30;

/// The limits an executor enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `Socket.write` returns false once a connection's queued output reaches this, and the host
    /// stops reading the socket until it drains.
    pub high_water_mark: usize,
    /// A guest that keeps writing past `false` is stopped here: the connection is destroyed and
    /// a GuestError of kind `host` says why.
    pub hard_cap: usize,
    /// Threaded mode: the input window (0 inline). It is part of the hard cap there: by the time
    /// JS pauses a socket whose output reached the mark, a window of input (plus one read) is
    /// already on its way to the worker, and even a guest that honours `false` gets it.
    pub input_window: usize,
    /// Most output one event may produce (written bytes, log lines, dials, each with its record
    /// header): past it the guest is stopped and replaced (`maxEventOutputBytes`).
    pub max_event_output: usize,
}

impl Limits {
    /// Limits for a `highWaterMark`, clamped to `1..=MAX_HIGH_WATER_MARK`.
    pub fn new(high_water_mark: usize) -> Limits {
        let high_water_mark = high_water_mark.clamp(1, MAX_HIGH_WATER_MARK);
        Limits {
            high_water_mark,
            hard_cap: hard_cap(high_water_mark),
            input_window: 0,
            max_event_output: DEFAULT_MAX_EVENT_OUTPUT,
        }
    }

    /// Limits for worker threads: an input window of `INPUT_WINDOW_FACTOR` x `highWaterMark`,
    /// and a hard cap raised by the window and one read.
    pub fn threaded(high_water_mark: usize) -> Limits {
        let base = Limits::new(high_water_mark);
        let input_window = base.high_water_mark * INPUT_WINDOW_FACTOR;
        Limits {
            input_window,
            hard_cap: base.hard_cap + input_window + MAX_READ,
            ..base
        }
    }

    /// The same limits with `maxEventOutputBytes` set (clamped to its range).
    pub fn with_max_event_output(self, bytes: usize) -> Limits {
        Limits {
            max_event_output: bytes.clamp(MIN_MAX_EVENT_OUTPUT, MAX_MAX_EVENT_OUTPUT),
            ..self
        }
    }

    /// How the hard cap is made, for the message of a connection destroyed at it.
    pub fn hard_cap_rule(&self) -> &'static str {
        if self.input_window == 0 {
            "4 x highWaterMark, at least 256 KiB"
        } else {
            "4 x highWaterMark, at least 256 KiB, plus the worker's input window of 4 x highWaterMark and one 64 KiB read"
        }
    }
}

/// The hard cap on one connection's queued output for a given `highWaterMark`:
/// `max(4 * highWaterMark, 256 KiB)`.
pub fn hard_cap(high_water_mark: usize) -> usize {
    high_water_mark
        .saturating_mul(HARD_CAP_FACTOR)
        .max(HARD_CAP_MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hard_cap_is_four_high_water_marks_with_a_floor() {
        assert_eq!(hard_cap(65536), 262144);
        assert_eq!(hard_cap(1 << 20), 4 << 20);
        assert_eq!(hard_cap(1), HARD_CAP_MIN);
        assert_eq!(hard_cap(usize::MAX), usize::MAX);
    }

    #[test]
    fn threaded_limits_add_the_input_window_and_one_read_to_the_cap() {
        let l = Limits::threaded(65536);
        assert_eq!(l.input_window, 262144);
        assert_eq!(l.hard_cap, 262144 + 262144 + 65536);
        assert_eq!(Limits::new(65536).input_window, 0);
        let max = Limits::threaded(usize::MAX);
        assert!(
            max.hard_cap < u32::MAX as usize,
            "a batch record must still describe it"
        );
    }

    #[test]
    fn limits_clamp_the_high_water_mark_so_the_cap_stays_below_4_gib() {
        let l = Limits::new(usize::MAX);
        assert_eq!(l.high_water_mark, MAX_HIGH_WATER_MARK);
        assert!(l.hard_cap < u32::MAX as usize);
        assert_eq!(Limits::new(0).high_water_mark, 1);
    }
}
