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

/// Copies `dst.len()` bytes at `ptr` out of guest memory, bounds-checked.
pub fn read_into(view: &MemoryView, ptr: u32, dst: &mut [u8]) -> Result<(), OutOfBounds> {
    let size = view.data_size();
    let (start, _) = checked_range(ptr, dst.len() as u64, size)?;
    view.read(start, dst).map_err(|_| OutOfBounds {
        ptr,
        len: dst.len() as u64,
        memory_size: size,
    })
}

/// Copies `data` into guest memory at `ptr`, bounds-checked.
pub fn write_from(view: &MemoryView, ptr: u32, data: &[u8]) -> Result<(), OutOfBounds> {
    let size = view.data_size();
    let (start, _) = checked_range(ptr, data.len() as u64, size)?;
    view.write(start, data).map_err(|_| OutOfBounds {
        ptr,
        len: data.len() as u64,
        memory_size: size,
    })
}

/// Reads an AssemblyScript `String` object: UTF-16LE units at `ptr`, byte length in the `u32` at
/// `ptr - 4`. Pointer 0 is AssemblyScript's `null` and reads as `"null"`.
pub fn read_as_string(view: &MemoryView, ptr: u32) -> Result<String, OutOfBounds> {
    if ptr == 0 {
        return Ok("null".to_string());
    }
    let mut header = [0u8; 4];
    let header_ptr = ptr.checked_sub(4).ok_or(OutOfBounds {
        ptr,
        len: 0,
        memory_size: view.data_size(),
    })?;
    read_into(view, header_ptr, &mut header)?;
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
}
