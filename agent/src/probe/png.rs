//! A minimal PNG writer for dumped frames: 8-bit RGB, one IDAT with stored (uncompressed)
//! deflate blocks. Large but exact, and it needs no compression library.

/// The PNG signature.
const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
/// The largest stored deflate block.
const STORED_MAX: usize = 65_535;

/// Encodes a BGRA picture (`width * 4` bytes per row) as an RGB PNG.
///
/// # Panics
/// When `bgra` is shorter than `width * height * 4` bytes (a caller bug).
#[must_use]
pub fn encode_bgra(width: u32, height: u32, bgra: &[u8]) -> Vec<u8> {
    let row = width as usize * 4;
    assert!(bgra.len() >= row * height as usize, "BGRA buffer too short");
    // Each row: filter type 0, then R, G, B.
    let mut raw = Vec::with_capacity((width as usize * 3 + 1) * height as usize);
    for line in bgra.chunks_exact(row).take(height as usize) {
        raw.push(0);
        for px in line.chunks_exact(4) {
            raw.extend_from_slice(&[px[2], px[1], px[0]]);
        }
    }
    let mut out = Vec::with_capacity(raw.len() + raw.len() / STORED_MAX * 5 + 64);
    out.extend_from_slice(&SIGNATURE);
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    // Bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace.
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", &zlib_stored(&raw));
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A zlib stream of stored deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / STORED_MAX * 5 + 11);
    // CMF: deflate with a 32 KiB window; FLG: no dictionary, check bits make it divisible by 31.
    out.extend_from_slice(&[0x78, 0x01]);
    let mut blocks = data.chunks(STORED_MAX).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        let last = u8::from(blocks.peek().is_none());
        let len = block.len() as u16;
        out.push(last);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

pub(super) fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 bytes is the most that can be summed before the u32s could overflow.
    for block in data.chunks(5552) {
        for &byte in block {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// CRC-32 (ISO-HDLC, as PNG uses), bit by bit: dumps are not a hot path.
pub(super) fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}
