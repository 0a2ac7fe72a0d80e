//! Module `env`: what AssemblyScript modules import (abort, trace, seed, Date.now, console.*).
//! Registered in `abi/imports.rs`.

use std::hash::{BuildHasher, RandomState};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use wasmer::RuntimeError;

use crate::instance::failure::Kind;
use crate::instance::imports::{Ctx, MAX_TIME_LABELS, MAX_TIMER_LABEL, level};

/// `env.abort(message: string, file: string, line: u32, column: u32)`: AssemblyScript's `abort`
/// (failed `assert`, `throw`, index out of range). Stops the guest with a GuestError of kind
/// `abort` whose message is `message at file:line:column`. The strings are AssemblyScript
/// `String` pointers (null allowed); unreadable ones are described, not trusted.
pub(crate) fn abort(
    mut ctx: Ctx,
    msg: i32,
    file: i32,
    line: i32,
    col: i32,
) -> Result<(), RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    let text = |p: i32| {
        env.text(&store, p)
            .unwrap_or_else(|e| format!("<unreadable: {e}>"))
    };
    let mut message = if msg == 0 {
        "abort".to_string()
    } else {
        text(msg)
    };
    if file != 0 {
        message = format!("{message} at {}:{}:{}", text(file), line as u32, col as u32);
    }
    Err(env.fail(Kind::Abort, message))
}

/// `env.trace(message: string, n: i32, a0..a4: f64)`: a `'log'` line at level `trace`,
/// `trace: message a0, a1, ...` with the first `n` (at most 5) numbers.
#[allow(clippy::too_many_arguments)]
pub(crate) fn trace(
    mut ctx: Ctx,
    msg: i32,
    n: i32,
    a0: f64,
    a1: f64,
    a2: f64,
    a3: f64,
    a4: f64,
) -> Result<(), RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    if !env.log_room() {
        return Ok(());
    }
    let text = match env.text(&store, msg) {
        Ok(t) => t,
        Err(e) => return Err(env.fail(Kind::Trap, format!("trace: {e}"))),
    };
    let count = (n.max(0) as usize).min(5);
    let args: Vec<String> = [a0, a1, a2, a3, a4][..count]
        .iter()
        .map(|&v| js_number(v))
        .collect();
    let line = if args.is_empty() {
        format!("trace: {text}")
    } else {
        format!("trace: {text} {}", args.join(", "))
    };
    env.log(level::TRACE, &line);
    Ok(())
}

/// `env.seed() -> f64`: a fresh random seed for AssemblyScript's `Math.random`.
pub(crate) fn seed(mut ctx: Ctx) -> f64 {
    let env = ctx.data_mut();
    env.seed_counter += 1;
    let bits = RandomState::new().hash_one(env.seed_counter);
    // A large integer in f64: AssemblyScript reinterprets its bits, so any non-zero value works.
    ((bits >> 11) | 1) as f64
}

/// `env.Date.now() -> f64`: milliseconds since the Unix epoch.
pub(crate) fn date_now(_ctx: Ctx) -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// `env.console.log|info|warn|error|debug(message: string)`: one `'log'` line at that level.
/// Every import that logs stays within the event's log cap (`HostEnv::log`): past it, lines are
/// dropped without reading the guest's string.
pub(crate) fn log(mut ctx: Ctx, lvl: u8, what: &str, ptr: i32) -> Result<(), RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    if !env.log_room() {
        return Ok(());
    }
    match env.text(&store, ptr) {
        Ok(line) => {
            env.log(lvl, &line);
            Ok(())
        }
        Err(e) => Err(env.fail(Kind::Trap, format!("{what}: {e}"))),
    }
}

/// `env.console.assert(condition: bool, message: string)`: when `condition` is false, an
/// error-level `'log'` line `Assertion failed: message`. Never stops the guest.
pub(crate) fn console_assert(mut ctx: Ctx, cond: i32, ptr: i32) -> Result<(), RuntimeError> {
    if cond != 0 {
        return Ok(());
    }
    let (env, store) = ctx.data_and_store_mut();
    if !env.log_room() {
        return Ok(());
    }
    match env.text(&store, ptr) {
        Ok(msg) => {
            env.log(level::ERROR, &format!("Assertion failed: {msg}"));
            Ok(())
        }
        Err(e) => Err(env.fail(Kind::Trap, format!("console.assert: {e}"))),
    }
}

pub(crate) enum Timer {
    Start,
    Log,
    End,
}

impl Timer {
    /// The import's name, for error messages.
    fn import(&self) -> &'static str {
        match self {
            Timer::Start => "console.time",
            Timer::Log => "console.timeLog",
            Timer::End => "console.timeEnd",
        }
    }
}

/// `env.console.time|timeLog|timeEnd(label: string)`: start a timer, or log `label: 1.234ms`
/// (and, for `timeEnd`, forget it). At most 1024 labels per instance; unknown labels are ignored.
pub(crate) fn timer(mut ctx: Ctx, what: Timer, ptr: i32) -> Result<(), RuntimeError> {
    let (env, store) = ctx.data_and_store_mut();
    let mut label = match env.text(&store, ptr) {
        Ok(l) => l,
        Err(e) => return Err(env.fail(Kind::Trap, format!("{}: {e}", what.import()))),
    };
    if label.len() > MAX_TIMER_LABEL {
        let mut cut = MAX_TIMER_LABEL;
        while !label.is_char_boundary(cut) {
            cut -= 1;
        }
        label.truncate(cut);
    }
    let started = match what {
        Timer::Start => {
            if env.time_labels.len() < MAX_TIME_LABELS {
                env.time_labels.insert(label, Instant::now());
            }
            return Ok(());
        }
        Timer::Log => env.time_labels.get(&label).copied(),
        Timer::End => env.time_labels.remove(&label),
    };
    if let Some(t) = started {
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        env.log(level::LOG, &format!("{label}: {ms:.3}ms"));
    }
    Ok(())
}

/// Formats a number the way JavaScript prints it, for the common cases.
fn js_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_javascript_prints_them() {
        assert_eq!(js_number(1.0), "1");
        assert_eq!(js_number(2.5), "2.5");
        assert_eq!(js_number(f64::NAN), "NaN");
        assert_eq!(js_number(f64::NEG_INFINITY), "-Infinity");
    }
}
