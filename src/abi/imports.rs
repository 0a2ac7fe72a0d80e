//! The host import table: every function a guest can import, in one place. Each row names the
//! module and function guests import, its wasm signature, and the function that implements it;
//! that function (in `instance/imports/`) documents arguments, return value and memory
//! ownership. A guest importing anything else is refused at load.
//!
//! `build` turns the table into a wasmer `Imports` for one instance; `provided` into the
//! signatures `abi::check_imports` validates guests against.

use wasmer::{Function, FunctionEnv, Imports, Store, Type};

use crate::abi::Sig;
use crate::instance::imports::env::{self, Timer};
use crate::instance::imports::{Ctx, HostEnv, host, level, shared, socket, timer, wasi};

type Make = fn(&mut Store, &FunctionEnv<HostEnv>) -> Function;

/// One host import: where guests find it, its wasm signature, and how to build it.
pub struct HostImport {
    pub module: &'static str,
    pub name: &'static str,
    pub params: &'static [Type],
    pub results: &'static [Type],
    make: Make,
}

const I32: Type = Type::I32;
const F64: Type = Type::F64;
const I64: Type = Type::I64;

macro_rules! import {
    ($module:literal, $name:literal, [$($p:expr),*] -> [$($r:expr),*], $f:expr) => {
        HostImport {
            module: $module,
            name: $name,
            params: &[$($p),*],
            results: &[$($r),*],
            make: |store, env| Function::new_typed_with_env(store, env, $f),
        }
    };
}

/// Every import the host provides. A guest importing anything else is refused at load.
pub static HOST_IMPORTS: &[HostImport] = &[
    import!("Socket", "write", [I32, I32, I32] -> [I32], socket::write),
    import!("Socket", "end", [I32] -> [], socket::end),
    import!("Socket", "close", [I32] -> [], socket::close),
    import!("Socket", "pause", [I32] -> [], socket::pause),
    import!("Socket", "resume", [I32] -> [], socket::resume),
    import!("Socket", "connect", [I32, I32, I32] -> [I32], socket::connect),
    import!("Socket", "setTimeout", [I32, I32] -> [I32], socket::set_timeout),
    import!("Socket", "remoteAddress", [I32, I32, I32] -> [I32], socket::remote_address),
    import!("Socket", "localAddress", [I32, I32, I32] -> [I32], socket::local_address),
    import!("Socket", "remotePort", [I32] -> [I32], socket::remote_port),
    import!("Socket", "localPort", [I32] -> [I32], socket::local_port),
    import!("Timer", "set", [I32, I32, I32] -> [I32], timer::set),
    import!("Timer", "clear", [I32] -> [], timer::clear),
    import!("Host", "config", [I32, I32] -> [I32], host::config),
    import!("Host", "call", [I32, I32, I32, I32, I32] -> [I32], host::call),
    import!("Shared", "get", [I32, I32, I32, I32] -> [I32], shared::get),
    import!("Shared", "set", [I32, I32, I32, I32] -> [I32], shared::set),
    import!("Shared", "delete", [I32, I32] -> [I32], shared::delete),
    import!("Shared", "add", [I32, I32, I64] -> [I64], shared::add),
    import!("Shared", "setIf", [I32, I32, I32, I32, I32, I32] -> [I32], shared::set_if),
    import!("Shared", "keys", [I32, I32, I32, I32] -> [I32], shared::keys),
    import!("env", "abort", [I32, I32, I32, I32] -> [], env::abort),
    import!("env", "trace", [I32, I32, F64, F64, F64, F64, F64] -> [], env::trace),
    import!("env", "seed", [] -> [F64], env::seed),
    import!("env", "Date.now", [] -> [F64], env::date_now),
    import!("env", "console.log", [I32] -> [], |c: Ctx, p: i32| env::log(c, level::LOG, "console.log", p)),
    import!("env", "console.info", [I32] -> [], |c: Ctx, p: i32| env::log(c, level::INFO, "console.info", p)),
    import!("env", "console.warn", [I32] -> [], |c: Ctx, p: i32| env::log(c, level::WARN, "console.warn", p)),
    import!("env", "console.error", [I32] -> [], |c: Ctx, p: i32| env::log(c, level::ERROR, "console.error", p)),
    import!("env", "console.debug", [I32] -> [], |c: Ctx, p: i32| env::log(c, level::DEBUG, "console.debug", p)),
    import!("env", "console.assert", [I32, I32] -> [], env::console_assert),
    import!("env", "console.time", [I32] -> [], |c: Ctx, p: i32| env::timer(c, Timer::Start, p)),
    import!("env", "console.timeLog", [I32] -> [], |c: Ctx, p: i32| env::timer(c, Timer::Log, p)),
    import!("env", "console.timeEnd", [I32] -> [], |c: Ctx, p: i32| env::timer(c, Timer::End, p)),
    // WASI preview1 without capabilities (instance/imports/wasi.rs; docs/guest-abi.md has the
    // table of answers).
    import!("wasi_snapshot_preview1", "args_get", [I32, I32] -> [I32], wasi::list_get),
    import!("wasi_snapshot_preview1", "args_sizes_get", [I32, I32] -> [I32], wasi::sizes_get),
    import!("wasi_snapshot_preview1", "environ_get", [I32, I32] -> [I32], wasi::list_get),
    import!("wasi_snapshot_preview1", "environ_sizes_get", [I32, I32] -> [I32], wasi::sizes_get),
    import!("wasi_snapshot_preview1", "clock_res_get", [I32, I32] -> [I32], wasi::clock_res_get),
    import!("wasi_snapshot_preview1", "clock_time_get", [I32, I64, I32] -> [I32], wasi::clock_time_get),
    import!("wasi_snapshot_preview1", "fd_advise", [I32, I64, I64, I32] -> [I32], |_: Ctx, fd: i32, _: i64, _: i64, _: i32| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "fd_allocate", [I32, I64, I64] -> [I32], |_: Ctx, fd: i32, _: i64, _: i64| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "fd_close", [I32] -> [I32], |_: Ctx, fd: i32| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "fd_datasync", [I32] -> [I32], |_: Ctx, fd: i32| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "fd_fdstat_get", [I32, I32] -> [I32], wasi::fd_fdstat_get),
    import!("wasi_snapshot_preview1", "fd_fdstat_set_flags", [I32, I32] -> [I32], |_: Ctx, fd: i32, _: i32| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "fd_fdstat_set_rights", [I32, I64, I64] -> [I32], |_: Ctx, fd: i32, _: i64, _: i64| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "fd_filestat_get", [I32, I32] -> [I32], |_: Ctx, fd: i32, _: i32| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "fd_filestat_set_size", [I32, I64] -> [I32], |_: Ctx, fd: i32, _: i64| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "fd_filestat_set_times", [I32, I64, I64, I32] -> [I32], |_: Ctx, fd: i32, _: i64, _: i64, _: i32| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "fd_pread", [I32, I32, I32, I64, I32] -> [I32], |_: Ctx, fd: i32, _: i32, _: i32, _: i64, _: i32| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "fd_prestat_get", [I32, I32] -> [I32], |_: Ctx, _: i32, _: i32| wasi::no_dir()),
    import!("wasi_snapshot_preview1", "fd_prestat_dir_name", [I32, I32, I32] -> [I32], |_: Ctx, _: i32, _: i32, _: i32| wasi::no_dir()),
    import!("wasi_snapshot_preview1", "fd_pwrite", [I32, I32, I32, I64, I32] -> [I32], |_: Ctx, fd: i32, _: i32, _: i32, _: i64, _: i32| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "fd_read", [I32, I32, I32, I32] -> [I32], |_: Ctx, fd: i32, _: i32, _: i32, _: i32| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "fd_readdir", [I32, I32, I32, I64, I32] -> [I32], |_: Ctx, fd: i32, _: i32, _: i32, _: i64, _: i32| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "fd_renumber", [I32, I32] -> [I32], |_: Ctx, fd: i32, _: i32| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "fd_seek", [I32, I64, I32, I32] -> [I32], |_: Ctx, fd: i32, _: i64, _: i32, _: i32| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "fd_sync", [I32] -> [I32], |_: Ctx, fd: i32| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "fd_tell", [I32, I32] -> [I32], |_: Ctx, fd: i32, _: i32| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "fd_write", [I32, I32, I32, I32] -> [I32], wasi::fd_write),
    import!("wasi_snapshot_preview1", "path_create_directory", [I32, I32, I32] -> [I32], |_: Ctx, _: i32, _: i32, _: i32| wasi::no_dir()),
    import!("wasi_snapshot_preview1", "path_filestat_get", [I32, I32, I32, I32, I32] -> [I32], |_: Ctx, _: i32, _: i32, _: i32, _: i32, _: i32| wasi::no_dir()),
    import!("wasi_snapshot_preview1", "path_filestat_set_times", [I32, I32, I32, I32, I64, I64, I32] -> [I32], |_: Ctx, _: i32, _: i32, _: i32, _: i32, _: i64, _: i64, _: i32| wasi::no_dir()),
    import!("wasi_snapshot_preview1", "path_link", [I32, I32, I32, I32, I32, I32, I32] -> [I32], |_: Ctx, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| wasi::no_dir()),
    import!("wasi_snapshot_preview1", "path_open", [I32, I32, I32, I32, I32, I64, I64, I32, I32] -> [I32], |_: Ctx, _: i32, _: i32, _: i32, _: i32, _: i32, _: i64, _: i64, _: i32, _: i32| wasi::no_dir()),
    import!("wasi_snapshot_preview1", "path_readlink", [I32, I32, I32, I32, I32, I32] -> [I32], |_: Ctx, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| wasi::no_dir()),
    import!("wasi_snapshot_preview1", "path_remove_directory", [I32, I32, I32] -> [I32], |_: Ctx, _: i32, _: i32, _: i32| wasi::no_dir()),
    import!("wasi_snapshot_preview1", "path_rename", [I32, I32, I32, I32, I32, I32] -> [I32], |_: Ctx, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| wasi::no_dir()),
    import!("wasi_snapshot_preview1", "path_symlink", [I32, I32, I32, I32, I32] -> [I32], |_: Ctx, _: i32, _: i32, _: i32, _: i32, _: i32| wasi::no_dir()),
    import!("wasi_snapshot_preview1", "path_unlink_file", [I32, I32, I32] -> [I32], |_: Ctx, _: i32, _: i32, _: i32| wasi::no_dir()),
    import!("wasi_snapshot_preview1", "poll_oneoff", [I32, I32, I32, I32] -> [I32], |_: Ctx, _: i32, _: i32, _: i32, _: i32| wasi::nosys()),
    import!("wasi_snapshot_preview1", "proc_exit", [I32] -> [], wasi::proc_exit),
    import!("wasi_snapshot_preview1", "proc_raise", [I32] -> [I32], |_: Ctx, _: i32| wasi::nosys()),
    import!("wasi_snapshot_preview1", "random_get", [I32, I32] -> [I32], wasi::random_get),
    import!("wasi_snapshot_preview1", "sched_yield", [] -> [I32], wasi::sched_yield),
    import!("wasi_snapshot_preview1", "sock_accept", [I32, I32, I32] -> [I32], |_: Ctx, fd: i32, _: i32, _: i32| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "sock_recv", [I32, I32, I32, I32, I32, I32] -> [I32], |_: Ctx, fd: i32, _: i32, _: i32, _: i32, _: i32, _: i32| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "sock_send", [I32, I32, I32, I32, I32] -> [I32], |_: Ctx, fd: i32, _: i32, _: i32, _: i32, _: i32| wasi::fd_other(fd)),
    import!("wasi_snapshot_preview1", "sock_shutdown", [I32, I32] -> [I32], |_: Ctx, fd: i32, _: i32| wasi::fd_other(fd)),
];

/// Builds the imports for one instance.
pub fn build(store: &mut Store, env: &FunctionEnv<HostEnv>) -> Imports {
    let mut imports = Imports::new();
    for imp in HOST_IMPORTS {
        imports.define(imp.module, imp.name, (imp.make)(store, env));
    }
    imports
}

/// The table as `(module, name, signature)`, for validating a guest's imports at load.
pub fn provided() -> Vec<(&'static str, &'static str, Sig)> {
    HOST_IMPORTS
        .iter()
        .map(|i| (i.module, i.name, Sig::new(i.params, i.results)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::dial::Dialer;
    use crate::policy::limits::Limits;

    #[test]
    fn every_table_entry_declares_the_signature_of_the_function_it_builds() {
        let mut store = Store::default();
        let env = FunctionEnv::new(
            &mut store,
            HostEnv::new(
                Limits::new(1024),
                Dialer::default(),
                std::sync::Arc::from(&b""[..]),
                std::sync::Arc::new(crate::bridge::shared::Shared::new(1 << 20)),
            ),
        );
        for imp in HOST_IMPORTS {
            let f = (imp.make)(&mut store, &env);
            let ty = f.ty(&store);
            assert_eq!(ty.params(), imp.params, "{}.{}", imp.module, imp.name);
            assert_eq!(ty.results(), imp.results, "{}.{}", imp.module, imp.name);
        }
    }

    #[test]
    fn no_import_is_registered_twice() {
        let mut names: Vec<_> = HOST_IMPORTS.iter().map(|i| (i.module, i.name)).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
