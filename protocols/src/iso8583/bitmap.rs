//! Primary and secondary bitmaps, binary (8 bytes each) or hex text (16 characters each).

use serde::Deserialize;

use super::encoding::{hex_encode, hex_u64};
use super::error::{DecodeError, DecodeErrorKind, Location, decode_err};

/// How a dialect writes its bitmaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BitmapEncoding {
    Binary,
    /// Upper-case hex text, as jPOS's ISO87APackager and pyiso8583's default_ascii write it.
    Hex,
}

/// Fields 1–128 present in a message; bit 1 (the secondary-bitmap flag) is managed here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bitmap(u128);

impl Bitmap {
    fn mask(field: u8) -> u128 {
        if (1..=128).contains(&field) {
            1u128 << (128 - u32::from(field))
        } else {
            0
        }
    }

    pub fn is_set(&self, field: u8) -> bool {
        self.0 & Self::mask(field) != 0
    }

    pub fn set(&mut self, field: u8) {
        self.0 |= Self::mask(field);
    }

    /// Whether any field 65–128 is present.
    pub fn needs_secondary(&self) -> bool {
        self.0 & u128::from(u64::MAX) != 0
    }

    /// The data elements present, 2–128 in order (bit 1 is not a field).
    pub fn fields(&self) -> impl Iterator<Item = u8> + '_ {
        let mut bits = self.0 & !Self::mask(1);
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let lead = bits.leading_zeros();
            bits &= !(1u128 << (127 - lead));
            u8::try_from(lead + 1).ok()
        })
    }

    pub fn count(&self) -> usize {
        (self.0 & !Self::mask(1)).count_ones() as usize
    }

    /// Reads the primary bitmap and, when bit 1 says so, the secondary one.
    pub(crate) fn decode(
        encoding: BitmapEncoding,
        secondary_allowed: bool,
        input: &[u8],
        pos: &mut usize,
        base: usize,
    ) -> Result<Bitmap, DecodeError> {
        let start = *pos;
        let primary = read_half(encoding, input, pos, base)?;
        let mut bits = u128::from(primary) << 64;
        if primary & (1 << 63) != 0 {
            if !secondary_allowed {
                return Err(decode_err(
                    Location::Bitmap,
                    base + start,
                    DecodeErrorKind::SecondaryBitmapNotAllowed,
                ));
            }
            bits |= u128::from(read_half(encoding, input, pos, base)?);
        }
        Ok(Bitmap(bits))
    }

    /// Writes the bitmap; the secondary half is written when a field above 64 is present or
    /// `force_secondary` is set (a decoded message that carried an empty secondary bitmap).
    pub(crate) fn encode(
        &self,
        encoding: BitmapEncoding,
        force_secondary: bool,
        out: &mut Vec<u8>,
    ) {
        let secondary = self.needs_secondary() || force_secondary;
        let mut primary = (self.0 >> 64) as u64;
        if secondary {
            primary |= 1 << 63;
        } else {
            primary &= !(1 << 63);
        }
        write_half(encoding, primary, out);
        if secondary {
            write_half(encoding, self.0 as u64, out);
        }
    }
}

fn read_half(
    encoding: BitmapEncoding,
    input: &[u8],
    pos: &mut usize,
    base: usize,
) -> Result<u64, DecodeError> {
    let start = *pos;
    let width = match encoding {
        BitmapEncoding::Binary => 8,
        BitmapEncoding::Hex => 16,
    };
    let raw = input
        .get(start..)
        .and_then(|rest| rest.get(..width))
        .ok_or_else(|| {
            decode_err(
                Location::Bitmap,
                base + start,
                DecodeErrorKind::Truncated {
                    needed: width,
                    available: input.len().saturating_sub(start),
                },
            )
        })?;
    let value = match encoding {
        BitmapEncoding::Binary => raw.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)),
        BitmapEncoding::Hex => hex_u64(raw)
            .map_err(|(at, kind)| decode_err(Location::Bitmap, base + start + at, kind))?,
    };
    *pos += width;
    Ok(value)
}

fn write_half(encoding: BitmapEncoding, half: u64, out: &mut Vec<u8>) {
    let bytes = half.to_be_bytes();
    match encoding {
        BitmapEncoding::Binary => out.extend_from_slice(&bytes),
        BitmapEncoding::Hex => hex_encode(&bytes, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_come_out_in_order_without_bit_one() {
        let mut b = Bitmap::default();
        for f in [1, 128, 2, 64, 65, 11] {
            b.set(f);
        }
        assert_eq!(b.fields().collect::<Vec<_>>(), vec![2, 11, 64, 65, 128]);
        assert_eq!(b.count(), 5);
        assert!(b.needs_secondary());
    }

    #[test]
    fn hex_bitmap_of_the_unionpay_sign_on() {
        let mut pos = 0;
        let b = Bitmap::decode(
            BitmapEncoding::Binary,
            true,
            &[0x00, 0x20, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x12],
            &mut pos,
            0,
        );
        assert_eq!(
            b.map(|b| b.fields().collect::<Vec<_>>()),
            Ok(vec![11, 41, 42, 60, 63])
        );
    }
}
