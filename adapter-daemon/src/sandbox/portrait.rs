//! The sandbox citizens' photos: a small 24-bit BMP (the format an ID card chip photo is
//! decoded to), drawn from the ID number so every citizen has a stable, distinct face and no
//! image file needs shipping. A simulator presents `portrait(id_number)` as chip photo and face.

use sha2::{Digest, Sha256};

/// Width and height of an ID card chip photo, in pixels.
pub const WIDTH: u32 = 102;
pub const HEIGHT: u32 = 126;

/// The portrait of the citizen with this ID number, as a BMP file.
pub fn portrait(id_number: &str) -> Vec<u8> {
    let seed = Sha256::digest(id_number.as_bytes());
    let byte = |i: usize| seed.get(i).copied().unwrap_or(0);
    let background = [200 + byte(0) % 56, 200 + byte(1) % 56, 220 + byte(2) % 36];
    let skin = [150 + byte(3) % 60, 170 + byte(4) % 50, 200 + byte(5) % 50];
    let hair = [byte(6) % 60, byte(7) % 50, byte(8) % 50];
    let coat = [byte(9) % 128, byte(10) % 128, byte(11) % 128];
    let face_w = 26.0 + f32::from(byte(12) % 8);
    let face_h = 34.0 + f32::from(byte(13) % 8);
    let hair_line = 0.35 + f32::from(byte(14) % 20) / 100.0;

    let row_bytes = (WIDTH * 3).div_ceil(4) * 4;
    let pixels = row_bytes * HEIGHT;
    let mut bmp = Vec::with_capacity(54 + pixels as usize);
    // BITMAPFILEHEADER + BITMAPINFOHEADER, bottom-up rows of BGR.
    bmp.extend_from_slice(b"BM");
    bmp.extend_from_slice(&(54 + pixels).to_le_bytes());
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&54u32.to_le_bytes());
    bmp.extend_from_slice(&40u32.to_le_bytes());
    bmp.extend_from_slice(&(WIDTH as i32).to_le_bytes());
    bmp.extend_from_slice(&(HEIGHT as i32).to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes());
    bmp.extend_from_slice(&24u16.to_le_bytes());
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&pixels.to_le_bytes());
    bmp.extend_from_slice(&2835i32.to_le_bytes());
    bmp.extend_from_slice(&2835i32.to_le_bytes());
    bmp.extend_from_slice(&[0; 8]);
    let (cx, cy) = (WIDTH as f32 / 2.0, HEIGHT as f32 * 0.58);
    for row in 0..HEIGHT {
        let y = (HEIGHT - 1 - row) as f32;
        for col in 0..WIDTH {
            let x = col as f32;
            let dx = (x - cx) / face_w;
            let dy = (y - (HEIGHT as f32 - cy)) / face_h;
            let in_face = dx * dx + dy * dy <= 1.0;
            let in_hair = dx * dx * 0.8 + (dy + 0.25) * (dy + 0.25) <= 1.1 && dy < -hair_line;
            let in_coat = y > HEIGHT as f32 * 0.84 && ((x - cx).abs() < 48.0);
            let colour = if in_hair {
                hair
            } else if in_face {
                skin
            } else if in_coat {
                coat
            } else {
                background
            };
            bmp.extend_from_slice(&colour);
        }
        bmp.extend(std::iter::repeat_n(0, (row_bytes - WIDTH * 3) as usize));
    }
    bmp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portraits_are_stable_distinct_bitmaps() {
        let a = portrait("440106198503151014");
        assert_eq!(&a[..2], b"BM");
        assert_eq!(a.len(), 54 + 308 * 126);
        assert_eq!(a, portrait("440106198503151014"));
        assert_ne!(a, portrait("440106199007202024"));
    }
}
