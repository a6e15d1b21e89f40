//! The 5-byte TPDU of UnionPay terminal frames: id (0x60) + destination (2) + source (2).

use std::fmt;

/// A transport protocol data unit.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tpdu {
    pub id: u8,
    pub destination: u16,
    pub source: u16,
}

impl Tpdu {
    pub const LEN: usize = 5;

    pub fn from_bytes(raw: &[u8]) -> Option<Tpdu> {
        match raw {
            &[id, d1, d2, s1, s2] => Some(Tpdu {
                id,
                destination: u16::from_be_bytes([d1, d2]),
                source: u16::from_be_bytes([s1, s2]),
            }),
            _ => None,
        }
    }

    pub fn to_bytes(&self) -> [u8; 5] {
        let [d1, d2] = self.destination.to_be_bytes();
        let [s1, s2] = self.source.to_be_bytes();
        [self.id, d1, d2, s1, s2]
    }

    /// The TPDU of a reply: destination and source swapped.
    pub fn reply(&self) -> Tpdu {
        Tpdu {
            id: self.id,
            destination: self.source,
            source: self.destination,
        }
    }
}

impl fmt::Debug for Tpdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tpdu({:02X} {:04X} {:04X})",
            self.id, self.destination, self.source
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_swaps_addresses() {
        let t = Tpdu::from_bytes(&[0x60, 0x04, 0x01, 0x00, 0x00]);
        assert_eq!(
            t.map(|t| t.reply().to_bytes()),
            Some([0x60, 0x00, 0x00, 0x04, 0x01])
        );
    }
}
