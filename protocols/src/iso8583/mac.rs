//! Message authentication codes used on ISO 8583 links:
//!
//! - [`retail_mac`]: ANSI X9.19 (ISO 9797-1 algorithm 3) with a double-length key, or ANSI X9.9
//!   (plain DES CBC-MAC) with a single-length key; data zero-padded (ISO 9797-1 method 1).
//! - [`unionpay_mac`]: the UnionPay terminal ("ECB") MAC: XOR of all 8-byte blocks, expanded to
//!   16 hex characters, then two encryptions; the MAC is 8 ASCII hex characters.
//! - [`MacKey::check_value`]: the key check value (encryption of eight zero bytes).
//!
//! Keys are wiped from memory when dropped and never shown by Debug.

use cipher::generic_array::GenericArray;
use cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use des::{Des, TdesEde2};
use zeroize::Zeroizing;

use super::encoding::to_hex;

/// A DES key: single length (8 bytes) or double length (16 bytes, K1 ‖ K2).
pub enum MacKey {
    Single(Zeroizing<[u8; 8]>),
    Double(Zeroizing<[u8; 16]>),
}

/// A key of the wrong size or not hexadecimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MacKeyError {
    #[error("a DES key is 8 or 16 bytes, not {0}")]
    Length(usize),
    #[error("the key is not hexadecimal")]
    NotHex,
}

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            MacKey::Single(_) => "Single",
            MacKey::Double(_) => "Double",
        };
        write!(f, "MacKey::{kind}(kcv {})", self.kcv())
    }
}

impl MacKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<MacKey, MacKeyError> {
        if let Ok(k) = <[u8; 8]>::try_from(bytes) {
            return Ok(MacKey::Single(Zeroizing::new(k)));
        }
        if let Ok(k) = <[u8; 16]>::try_from(bytes) {
            return Ok(MacKey::Double(Zeroizing::new(k)));
        }
        Err(MacKeyError::Length(bytes.len()))
    }

    pub fn from_hex(text: &str) -> Result<MacKey, MacKeyError> {
        let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| MacKeyError::NotHex)?);
        MacKey::from_bytes(&bytes)
    }

    /// Encrypts one block with the whole key (DES, or two-key triple DES EDE).
    fn encrypt(&self, block: &mut [u8; 8]) {
        let b = GenericArray::from_mut_slice(block);
        match self {
            MacKey::Single(k) => Des::new(GenericArray::from_slice(k.as_ref())).encrypt_block(b),
            MacKey::Double(k) => {
                TdesEde2::new(GenericArray::from_slice(k.as_ref())).encrypt_block(b)
            }
        }
    }

    /// The key check value block: the key applied to eight zero bytes. Most links show its first
    /// 3 bytes ([`MacKey::kcv`]); the UnionPay sign-on reply carries the first 4.
    pub fn check_value(&self) -> [u8; 8] {
        let mut block = [0u8; 8];
        self.encrypt(&mut block);
        block
    }

    /// The usual 6-hex-digit key check value.
    pub fn kcv(&self) -> String {
        to_hex(self.check_value().get(..3).unwrap_or_default())
    }

    /// Encrypts key material under this key, block by block (ECB), as a UnionPay sign-on reply
    /// carries working keys under the terminal master key. `None` unless `data` is whole blocks.
    pub fn encrypt_ecb(&self, data: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        self.ecb(data, true)
    }

    /// The inverse of [`MacKey::encrypt_ecb`]: what a terminal does with its working keys.
    pub fn decrypt_ecb(&self, data: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        self.ecb(data, false)
    }

    fn ecb(&self, data: &[u8], encrypt: bool) -> Option<Zeroizing<Vec<u8>>> {
        if data.len() % 8 != 0 {
            return None;
        }
        let mut out = Zeroizing::new(data.to_vec());
        for block in out.chunks_exact_mut(8) {
            let b = GenericArray::from_mut_slice(block);
            match (self, encrypt) {
                (MacKey::Single(k), true) => {
                    Des::new(GenericArray::from_slice(k.as_ref())).encrypt_block(b)
                }
                (MacKey::Single(k), false) => {
                    Des::new(GenericArray::from_slice(k.as_ref())).decrypt_block(b)
                }
                (MacKey::Double(k), true) => {
                    TdesEde2::new(GenericArray::from_slice(k.as_ref())).encrypt_block(b)
                }
                (MacKey::Double(k), false) => {
                    TdesEde2::new(GenericArray::from_slice(k.as_ref())).decrypt_block(b)
                }
            }
        }
        Some(out)
    }
}

fn blocks(data: &[u8]) -> impl Iterator<Item = [u8; 8]> + '_ {
    let empty = data.is_empty().then_some([0u8; 8]);
    data.chunks(8)
        .map(|chunk| {
            let mut block = [0u8; 8];
            for (b, c) in block.iter_mut().zip(chunk) {
                *b = *c;
            }
            block
        })
        .chain(empty)
}

fn xor(a: &mut [u8; 8], b: &[u8; 8]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}

/// ANSI X9.19 retail MAC (double-length key) or X9.9 CBC-MAC (single-length key).
pub fn retail_mac(key: &MacKey, data: &[u8]) -> [u8; 8] {
    match key {
        MacKey::Single(k) => {
            let des = Des::new(GenericArray::from_slice(k.as_ref()));
            cbc_mac(&des, data)
        }
        MacKey::Double(k) => {
            let (k1, k2) = k.split_at(8);
            let des1 = Des::new(GenericArray::from_slice(k1));
            let des2 = Des::new(GenericArray::from_slice(k2));
            let mut h = cbc_mac(&des1, data);
            des2.decrypt_block(GenericArray::from_mut_slice(&mut h));
            des1.encrypt_block(GenericArray::from_mut_slice(&mut h));
            h
        }
    }
}

fn cbc_mac(des: &Des, data: &[u8]) -> [u8; 8] {
    let mut h = [0u8; 8];
    for block in blocks(data) {
        xor(&mut h, &block);
        des.encrypt_block(GenericArray::from_mut_slice(&mut h));
    }
    h
}

/// The UnionPay terminal MAC ("ECB algorithm"); 8 ASCII characters (upper-case hex).
pub fn unionpay_mac(key: &MacKey, data: &[u8]) -> [u8; 8] {
    let mut r = [0u8; 8];
    for block in blocks(data) {
        xor(&mut r, &block);
    }
    let expanded = to_hex(&r).into_bytes();
    let half = |from: usize| {
        let mut h = [0u8; 8];
        for (b, c) in h.iter_mut().zip(expanded.iter().skip(from)) {
            *b = *c;
        }
        h
    };
    let mut e = half(0);
    key.encrypt(&mut e);
    xor(&mut e, &half(8));
    key.encrypt(&mut e);
    let mut mac = [0u8; 8];
    for (m, c) in mac.iter_mut().zip(to_hex(&e).bytes()) {
        *m = c;
    }
    mac
}

/// Compares two MACs in constant time.
pub fn mac_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
