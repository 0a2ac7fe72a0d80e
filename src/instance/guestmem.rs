//! Checked reads of guest linear memory: every pointer and length a guest hands the host passes
//! through here, so a bad one becomes a guest error and never a host memory access.
//!
//! Pointers and lengths arrive as wasm `i32`; wasm32 addresses are unsigned, so both are taken as
//! `u32` (a "negative" length is a huge one and fails the bounds check).

use std::fmt;

use wasmer::MemoryView;

/// Longest guest string the host decodes for a log line or an abort message; longer text is cut
/// there and marked, so a guest cannot make the host allocate without bound.
pub const MAX_TEXT_BYTES: u32 = 64 * 1024;

/// A guest pointer/length pair that does not lie inside its memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfBounds {
    pub ptr: u32,
    pub len: u64,
    pub memory_size: u64,
}

impl fmt::Display for OutOfBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "guest passed pointer {} with length {}, outside its memory of {} bytes",
            self.ptr, self.len, self.memory_size
        )
    }
}

/// The byte range `[ptr, ptr + len)` when it lies inside a memory of `memory_size` bytes.
pub fn checked_range(ptr: u32, len: u64, memory_size: u64) -> Result<(u64, u64), OutOfBounds> {
    let start = ptr as u64;
    match start.checked_add(len) {
        Some(end) if end <= memory_size => Ok((start, end)),
        _ => Err(OutOfBounds {
            ptr,
            len,
            memory_size,
        }),
    }
}

/// The `len` bytes at `ptr` of guest memory, bounds-checked, borrowed for as long as `view`.
///
/// Guest memory is read and written as plain slices (memcpy) rather than with wasmer's
/// `MemoryView::read`/`write`, which copy 8 bytes at a time with volatile accesses in case another
/// thread changes the memory during the copy (measured: several times slower on 64 KiB chunks).
/// That cannot happen here: an instance's memory is its own (the host offers no memory import,
/// so a module importing one is refused at load, and there is no way to start a guest thread),
/// and host code holds a view only while the guest is stopped inside a host call or between
/// guest calls, on the instance's only thread.
pub fn guest_bytes<'v>(view: &'v MemoryView, ptr: u32, len: u64) -> Result<&'v [u8], OutOfBounds> {
    let size = view.data_size();
    let (start, end) = checked_range(ptr, len, size)?;
    if start == end {
        return Ok(&[]);
    }
    // SAFETY: nothing else reads or writes this memory while the slice lives (see above), and
    // `checked_range` keeps [start, end) within the `size` bytes the view covers.
    let all = unsafe { view.data_unchecked() };
    all.get(start as usize..end as usize).ok_or(OutOfBounds {
        ptr,
        len,
        memory_size: size,
    })
}

/// Copies `dst.len()` bytes at `ptr` out of guest memory, bounds-checked.
pub fn read_into(view: &MemoryView, ptr: u32, dst: &mut [u8]) -> Result<(), OutOfBounds> {
    dst.copy_from_slice(guest_bytes(view, ptr, dst.len() as u64)?);
    Ok(())
}

/// Copies `data` into guest memory at `ptr`, bounds-checked.
pub fn write_from(view: &MemoryView, ptr: u32, data: &[u8]) -> Result<(), OutOfBounds> {
    fill(view, ptr, data.len() as u64, |dst| {
        dst.copy_from_slice(data)
    })
}

/// Lets `fill` write into the `len` bytes at `ptr` of guest memory, bounds-checked, and returns
/// what it returns (the native I/O path: the kernel reads a socket straight into a guest buffer).
pub fn fill<R>(
    view: &MemoryView,
    ptr: u32,
    len: u64,
    fill: impl FnOnce(&mut [u8]) -> R,
) -> Result<R, OutOfBounds> {
    let size = view.data_size();
    let (start, end) = checked_range(ptr, len, size)?;
    // SAFETY: as in `guest_bytes`; the mutable slice lives only for this call, during which no
    // guest code runs.
    let all = unsafe { view.data_unchecked_mut() };
    let dst = all
        .get_mut(start as usize..end as usize)
        .ok_or(OutOfBounds {
            ptr,
            len,
            memory_size: size,
        })?;
    Ok(fill(dst))
}

/// Reads an AssemblyScript `String` object: UTF-16LE units at `ptr`, byte length in the `u32` at
/// `ptr - 4`. Pointer 0 is AssemblyScript's `null` and reads as `"null"`.
pub fn read_as_string(view: &MemoryView, ptr: u32) -> Result<String, OutOfBounds> {
    if ptr == 0 {
        return Ok("null".to_string());
    }
    // The length header is the 4 bytes before `ptr`. Below 4 its address wraps to near 4 GiB,
    // which no 32-bit memory holds, so the check refuses it and the error names that range.
    let mut header = [0u8; 4];
    read_into(view, ptr.wrapping_sub(4), &mut header)?;
    let byte_len = u32::from_le_bytes(header);
    let (take, cut) = text_window(byte_len);
    let mut bytes = vec![0u8; take as usize];
    read_into(view, ptr, &mut bytes)?;
    let mut s = decode_utf16le(&bytes);
    if cut {
        s.push_str("...(truncated)");
    }
    Ok(s)
}

/// How many bytes of a guest string of `byte_len` bytes the host reads, and whether it cut it.
pub fn text_window(byte_len: u32) -> (u32, bool) {
    if byte_len > MAX_TEXT_BYTES {
        (MAX_TEXT_BYTES, true)
    } else {
        (byte_len & !1, false)
    }
}

/// Decodes UTF-16LE, replacing unpaired surrogates with U+FFFD; a trailing odd byte is ignored.
pub fn decode_utf16le(bytes: &[u8]) -> String {
    let units = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use wasmer::{Memory, MemoryType, Store};

    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
    }

    #[test]
    fn ranges_inside_memory_are_accepted() {
        assert_eq!(checked_range(0, 0, 0), Ok((0, 0)));
        assert_eq!(checked_range(10, 6, 16), Ok((10, 16)));
        assert_eq!(checked_range(16, 0, 16), Ok((16, 16)));
    }

    #[test]
    fn ranges_past_the_end_or_wrapping_are_refused() {
        assert!(checked_range(10, 7, 16).is_err());
        assert!(checked_range(17, 0, 16).is_err());
        assert!(checked_range(u32::MAX, u32::MAX as u64, 1 << 32).is_err());
        // a "negative" i32 length is a huge u32
        assert!(checked_range(8, (-1i32) as u32 as u64, 65536).is_err());
    }

    #[test]
    fn utf16_decoding_handles_ascii_astral_and_broken_input() {
        assert_eq!(decode_utf16le(&utf16("hello")), "hello");
        assert_eq!(decode_utf16le(&utf16("héllo 🦀")), "héllo 🦀");
        // an unpaired high surrogate becomes U+FFFD
        assert_eq!(decode_utf16le(&[0x3d, 0xd8, 0x41, 0x00]), "\u{FFFD}A");
        // an odd trailing byte is ignored
        assert_eq!(decode_utf16le(&[0x41, 0x00, 0x42]), "A");
        assert_eq!(decode_utf16le(&[]), "");
    }

    #[test]
    fn long_guest_strings_are_cut_at_the_text_limit() {
        assert_eq!(text_window(10), (10, false));
        assert_eq!(text_window(11), (10, false));
        assert_eq!(text_window(MAX_TEXT_BYTES), (MAX_TEXT_BYTES, false));
        assert_eq!(text_window(u32::MAX), (MAX_TEXT_BYTES, true));
    }

    #[test]
    fn a_string_pointer_whose_header_lies_before_memory_is_refused_naming_the_header() {
        let mut store = Store::default();
        let memory = Memory::new(&mut store, MemoryType::new(1, None, false)).unwrap();
        let view = memory.view(&store);
        for ptr in 1..4u32 {
            let err = read_as_string(&view, ptr).unwrap_err();
            assert_eq!((err.ptr, err.len), (ptr.wrapping_sub(4), 4));
            assert!(
                err.to_string()
                    .contains("with length 4, outside its memory of 65536 bytes")
            );
        }
    }

    // Property tests: random memory sizes, pointers and lengths, with the edges (0, the end of
    // memory, u32::MAX, overflow) drawn far more often than chance would.

    /// The documented cap on one guest string, stated independently of `MAX_TEXT_BYTES`.
    const CAP: u64 = 64 * 1024;

    /// A number drawn relative to an edge: anywhere, near 0, near `end`, or near `max`.
    #[derive(Clone, Debug)]
    enum Pick {
        Any(u64),
        Low(u64),
        End(i64),
        High(u64),
    }

    impl Pick {
        /// The value in `0..=max`, placed relative to `end`.
        fn at(&self, end: u64, max: u64) -> u64 {
            match *self {
                Pick::Any(v) => v.checked_rem(max.wrapping_add(1)).unwrap_or(v),
                Pick::Low(v) => v.min(max),
                Pick::End(d) => end.saturating_add_signed(d).min(max),
                Pick::High(d) => max - d.min(max),
            }
        }
    }

    fn pick() -> impl Strategy<Value = Pick> {
        prop_oneof![
            any::<u64>().prop_map(Pick::Any),
            (0u64..16).prop_map(Pick::Low),
            (-40i64..=40).prop_map(Pick::End),
            (0u64..40).prop_map(Pick::High),
        ]
    }

    fn runner(cases: u32) -> TestRunner {
        TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        })
    }

    /// Memories of 0, 1 and 2 pages, in one store.
    fn memories() -> (Store, Vec<Memory>) {
        let mut store = Store::default();
        let mems = (0..3)
            .map(|pages| Memory::new(&mut store, MemoryType::new(pages, None, false)).unwrap())
            .collect();
        (store, mems)
    }

    /// Writes the part of `bytes` placed at `at` that falls inside memory.
    fn write_clipped(view: &MemoryView, at: u64, bytes: &[u8]) {
        let size = view.data_size();
        if at >= size {
            return;
        }
        let n = bytes.len().min((size - at) as usize);
        view.write(at, &bytes[..n]).unwrap();
    }

    /// What `read_as_string` must answer, computed straight from the documentation over a copy
    /// of guest memory.
    fn model_string(mem: &[u8], ptr: u32) -> Result<String, OutOfBounds> {
        let size = mem.len() as u64;
        let oob = |ptr, len| OutOfBounds {
            ptr,
            len,
            memory_size: size,
        };
        if ptr == 0 {
            return Ok("null".into());
        }
        let p = ptr as u64;
        if p < 4 || p > size {
            return Err(oob(ptr.wrapping_sub(4), 4));
        }
        let p = p as usize;
        let claimed = u32::from_le_bytes(mem[p - 4..p].try_into().unwrap()) as u64;
        let (take, cut) = if claimed > CAP {
            (CAP, true)
        } else {
            (claimed - claimed % 2, false)
        };
        if p as u64 + take > size {
            return Err(oob(ptr, take));
        }
        let units: Vec<u16> = mem[p..p + take as usize]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let mut s = String::from_utf16_lossy(&units);
        if cut {
            s.push_str("...(truncated)");
        }
        Ok(s)
    }

    #[test]
    fn prop_the_bounds_check_accepts_exactly_the_ranges_inside_memory() {
        let strategy = (pick(), pick(), pick());
        runner(20_000)
            .run(&strategy, |(size, ptr, len)| {
                let size = size.at(64 * 1024, 1 << 32);
                let ptr = ptr.at(size, u32::MAX as u64) as u32;
                let len = len.at(size.saturating_sub(ptr as u64), u64::MAX);
                let inside = ptr as u128 + len as u128 <= size as u128;
                match checked_range(ptr, len, size) {
                    Ok((start, end)) => {
                        prop_assert!(inside, "accepted {ptr}+{len} in {size}");
                        prop_assert_eq!((start, end), (ptr as u64, ptr as u64 + len));
                    }
                    Err(e) => {
                        prop_assert!(!inside, "refused {ptr}+{len} in {size}");
                        let want = OutOfBounds {
                            ptr,
                            len,
                            memory_size: size,
                        };
                        prop_assert_eq!(e, want);
                    }
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn prop_reads_and_writes_of_guest_memory_succeed_exactly_inside_it() {
        let (store, mems) = memories();
        let strategy = (0..3usize, pick(), pick(), any::<u8>());
        runner(1_000)
            .run(&strategy, |(m, ptr, len, fill)| {
                let view = mems[m].view(&store);
                let size = view.data_size();
                let ptr = ptr.at(size, u32::MAX as u64) as u32;
                // Lengths stay allocatable: huge ones are the pure check's business (above).
                let len = len.at(size.saturating_sub(ptr as u64), size + 64) as usize;
                let inside = ptr as u64 + len as u64 <= size;
                let before = view.copy_to_vec().unwrap();
                let data = vec![fill; len];
                let written = write_from(&view, ptr, &data);
                let mut back = vec![0u8; len];
                let read = read_into(&view, ptr, &mut back);
                prop_assert_eq!(written.is_ok(), inside);
                prop_assert_eq!(read.is_ok(), inside);
                if inside {
                    prop_assert_eq!(&back, &data);
                } else {
                    prop_assert!(
                        view.copy_to_vec().unwrap() == before,
                        "a refused write changed memory"
                    );
                    prop_assert!(
                        back.iter().all(|&b| b == 0),
                        "a refused read filled the buffer"
                    );
                    let want = OutOfBounds {
                        ptr,
                        len: len as u64,
                        memory_size: size,
                    };
                    prop_assert_eq!(written.unwrap_err(), want.clone());
                    prop_assert_eq!(read.unwrap_err(), want);
                }
                Ok(())
            })
            .unwrap();
    }

    /// A UTF-16 unit or a whole character: random text, valid or not.
    fn units() -> impl Strategy<Value = Vec<u16>> {
        let piece = prop_oneof![
            (0x20u16..0x7f).prop_map(|u| vec![u]),
            (0xd800u16..0xe000).prop_map(|u| vec![u]),
            any::<u16>().prop_map(|u| vec![u]),
            any::<char>().prop_map(|c| c.encode_utf16(&mut [0; 2]).to_vec()),
        ];
        prop::collection::vec(piece, 0..48).prop_map(|v| v.concat())
    }

    /// The length header of a test string: the body's own length, one more (odd lengths), or
    /// anything (past the end of memory, near u32::MAX), or around the 64 KiB cap.
    #[derive(Clone, Debug)]
    enum Claim {
        Body,
        BodyPlusOne,
        Pick(Pick),
        Exactly(u64),
    }

    #[test]
    fn prop_read_as_string_never_panics_and_answers_as_documented() {
        let (store, mems) = memories();
        let claimed = prop_oneof![
            Just(Claim::Body),
            Just(Claim::BodyPlusOne),
            pick().prop_map(Claim::Pick),
            (CAP - 8..CAP + 8).prop_map(Claim::Exactly),
        ];
        let strategy = (
            0..3usize,
            pick(),
            units(),
            any::<bool>(),
            claimed,
            any::<u8>(),
        );
        runner(2_000)
            .run(&strategy, |(m, ptr, units, odd, claimed, fill)| {
                let view = mems[m].view(&store);
                let size = view.data_size();
                let ptr = ptr.at(size, u32::MAX as u64) as u32;
                let mut body: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
                if odd {
                    body.push(fill);
                }
                let len = match claimed {
                    Claim::Body => body.len() as u64,
                    Claim::BodyPlusOne => body.len() as u64 + 1,
                    Claim::Pick(p) => p.at(size.saturating_sub(ptr as u64), u32::MAX as u64),
                    Claim::Exactly(n) => n,
                };
                if ptr >= 4 {
                    write_clipped(&view, ptr as u64 - 4, &(len as u32).to_le_bytes());
                }
                write_clipped(&view, ptr as u64, &body);
                let mem = view.copy_to_vec().unwrap();
                prop_assert_eq!(read_as_string(&view, ptr), model_string(&mem, ptr));
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn prop_utf16_decoding_and_the_text_window_never_panic() {
        let claimed = prop_oneof![
            any::<u32>(),
            0u32..8,
            (CAP as u32 - 4)..(CAP as u32 + 4),
            (u32::MAX - 4)..=u32::MAX,
        ];
        let strategy = (prop::collection::vec(any::<u8>(), 0..96), claimed);
        runner(5_000)
            .run(&strategy, |(bytes, claimed)| {
                let units: Vec<u16> = bytes
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                prop_assert_eq!(decode_utf16le(&bytes), String::from_utf16_lossy(&units));
                let (take, cut) = text_window(claimed);
                prop_assert_eq!(cut, claimed as u64 > CAP);
                prop_assert!(take as u64 <= CAP && take % 2 == 0);
                if !cut {
                    prop_assert_eq!(take, claimed & !1);
                }
                Ok(())
            })
            .unwrap();
    }
}
