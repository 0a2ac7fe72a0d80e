//! `constants()`: the numbers and names JS shares with the addon, defined once in the core and
//! read by js/constants.js, so the two sides cannot drift: outbox ops and record layout, error
//! kinds, log levels, load error codes, option limits and defaults.

use std::collections::HashMap;

use napi_derive::napi;

use crate::guest::Code;
use crate::guest::memcap;
use crate::instance::failure::Kind;
use crate::instance::imports::level;
use crate::instance::outbox::{self, Op};
use crate::instance::timers;
use crate::policy::limits;

#[napi(object)]
pub struct Constants {
    /// Outbox op numbers by name (`WRITE`, `END`, ...).
    pub ops: HashMap<String, u32>,
    /// Size of an outbox record header.
    pub header: u32,
    /// The id of a record that concerns no connection.
    pub no_id: u32,
    /// A `Timer` record's "no timer pending".
    pub no_timer: u32,
    /// Most live `Timer.set` timers per instance.
    pub max_timers: u32,
    /// Log level names, indexed by the level number.
    pub levels: Vec<String>,
    /// GuestError kinds, indexed by the kind number (index 0 is unused: "").
    pub kinds: Vec<String>,
    /// Every load error code.
    pub load_codes: Vec<String>,
    pub max_threads: u32,
    pub default_high_water_mark: u32,
    pub max_high_water_mark: u32,
    pub default_max_event_output_bytes: u32,
    pub min_max_event_output_bytes: u32,
    pub max_max_event_output_bytes: u32,
    pub min_memory_bytes: f64,
    pub max_memory_bytes: f64,
    pub default_max_memory_bytes: f64,
}

#[napi]
pub fn constants() -> Constants {
    let mut kinds = vec![String::new(); Kind::ALL.len() + 1];
    for k in Kind::ALL {
        kinds[k as usize] = k.name().to_string();
    }
    Constants {
        ops: Op::ALL
            .iter()
            .map(|&(op, name)| (name.to_string(), op as u32))
            .collect(),
        header: outbox::HEADER as u32,
        no_id: outbox::NO_ID,
        no_timer: outbox::NO_TIMER,
        max_timers: timers::MAX_TIMERS as u32,
        levels: level::NAMES.iter().map(|s| s.to_string()).collect(),
        kinds,
        load_codes: Code::ALL.iter().map(|c| c.as_str().to_string()).collect(),
        max_threads: limits::MAX_THREADS as u32,
        default_high_water_mark: limits::DEFAULT_HIGH_WATER_MARK as u32,
        max_high_water_mark: limits::MAX_HIGH_WATER_MARK as u32,
        default_max_event_output_bytes: limits::DEFAULT_MAX_EVENT_OUTPUT as u32,
        min_max_event_output_bytes: limits::MIN_MAX_EVENT_OUTPUT as u32,
        max_max_event_output_bytes: limits::MAX_MAX_EVENT_OUTPUT as u32,
        min_memory_bytes: memcap::MIN_MEMORY_BYTES as f64,
        max_memory_bytes: memcap::MAX_MEMORY_BYTES as f64,
        default_max_memory_bytes: memcap::DEFAULT_MAX_MEMORY_BYTES as f64,
    }
}
