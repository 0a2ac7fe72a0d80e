//! Guest failures: what went wrong inside a guest, as the host reports it to JS (`GuestError`).

use wasmer::RuntimeError;

/// The `kind` of a `GuestError`. The numbers travel in outbox `Error` records; JS learns the names
/// from `constants()` (napi/constants.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A wasm trap: unreachable, out-of-bounds access, stack exhaustion, or a bad pointer handed
    /// to a host import.
    Trap = 1,
    /// The guest called `abort` (AssemblyScript `assert`, `throw`, out-of-range access).
    Abort = 2,
    /// The guest used up its instruction budget for one event.
    Fuel = 3,
    /// The guest hit its memory cap.
    Memory = 4,
    /// The host refused the guest (a limit it broke, or an instance that could not start).
    Host = 5,
    /// The guest ran past `eventTimeoutMs` in one call and was stopped.
    Timeout = 6,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Trap,
        Kind::Abort,
        Kind::Fuel,
        Kind::Memory,
        Kind::Host,
        Kind::Timeout,
    ];

    /// How JS names it (`GuestError.kind`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Trap => "trap",
            Kind::Abort => "abort",
            Kind::Fuel => "fuel",
            Kind::Memory => "memory",
            Kind::Host => "host",
            Kind::Timeout => "timeout",
        }
    }
}

/// The message a caught panic carried (`panic!` with a literal or a formatted string).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string())
}

/// A failure with its message, ready to report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: Kind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }

    /// Describes a trap that no host import explained: the trap's message and the innermost
    /// guest frames, so the person reading it can find the place.
    pub fn from_trap(err: &RuntimeError) -> Failure {
        let mut message = err.message();
        let frames: Vec<String> = err
            .trace()
            .iter()
            .take(4)
            .map(|f| match f.function_name() {
                Some(name) => name.to_string(),
                None => format!("func[{}]", f.func_index()),
            })
            .collect();
        if !frames.is_empty() {
            message.push_str(" (guest stack: ");
            message.push_str(&frames.join(" <- "));
            message.push(')');
        }
        Failure::new(Kind::Trap, message)
    }
}
