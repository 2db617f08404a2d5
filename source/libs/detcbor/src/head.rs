//! CBOR data item heads (RFC 8949 §3): the major type and its argument, in
//! the shortest form §4.2.1 requires. Shared by the encoder and the
//! validator so that both agree on one definition of "shortest".

/// Major type 0: unsigned integer.
pub(crate) const UINT: u8 = 0;
/// Major type 1: negative integer (-1 - argument).
pub(crate) const NINT: u8 = 1;
/// Major type 2: byte string.
pub(crate) const BYTES: u8 = 2;
/// Major type 3: UTF-8 text string.
pub(crate) const TEXT: u8 = 3;
/// Major type 4: array.
pub(crate) const ARRAY: u8 = 4;
/// Major type 5: map.
pub(crate) const MAP: u8 = 5;
/// Major type 6: tag.
pub(crate) const TAG: u8 = 6;
/// Major type 7: simple values and floats.
pub(crate) const SIMPLE: u8 = 7;

/// Simple value `false`.
pub(crate) const FALSE: u8 = 0xf4;
/// Simple value `true`.
pub(crate) const TRUE: u8 = 0xf5;
/// Simple value `null`.
pub(crate) const NULL: u8 = 0xf6;

/// Tag numbers of unsigned and negative bignums (RFC 8949 §3.4.3).
pub(crate) const BIGNUM_TAGS: [u64; 2] = [2, 3];

/// Append the shortest head for `major` with argument `arg`.
pub(crate) fn write_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    // Each branch is the smallest width that holds `arg`; the truncating
    // casts are exact because of the range each branch matched.
    match arg {
        0..=23 => out.push(m | arg as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, arg as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(arg as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(arg as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&arg.to_be_bytes());
        }
    }
}

/// The smallest argument each additional-info width may carry in shortest
/// form: ai 24 → 24, ai 25 → 2^8, ai 26 → 2^16, ai 27 → 2^32.
pub(crate) fn min_arg_for_width(ai: u8) -> u64 {
    match ai {
        24 => 24,
        25 => 0x100,
        26 => 0x1_0000,
        _ => 0x1_0000_0000,
    }
}
