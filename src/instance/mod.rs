//! One guest instance and what it works on: the executor that runs its events, the host imports
//! it calls, its memory, its connection table, and the outbox its requests go to.

pub mod calls;
pub mod conn;
pub mod deadline;
pub mod executor;
pub mod exports;
pub mod failure;
pub mod fuel;
pub mod guestmem;
pub mod imports;
pub mod outbox;
pub mod timers;
