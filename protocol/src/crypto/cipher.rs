//! The per-frame secretbox of an established channel (spec §1.2, §4.4).
//!
//! One key serves both directions; each direction has its own counter, starting at 0 and
//! incremented before use, and the nonce is `LE64(counter) ‖ 16 zero bytes`. A sealed frame
//! is the 16-byte Poly1305 tag followed by the XSalsa20 ciphertext. On receive, payloads of
//! at most one byte pass through unopened and do not advance the counter.

use crypto_secretbox::aead::AeadInPlace as _;
use crypto_secretbox::{KeyInit as _, Nonce, Tag, XSalsa20Poly1305};

use crate::error::{ApiMisuse, Error, PeerMisbehaved};
use crate::framing::{self, Payload};

/// Length of the Poly1305 tag in front of every sealed payload.
pub const TAG_LEN: usize = 16;

/// The sealing state of one established connection: the session key and the two counters.
///
/// A pure value: sealing writes into the caller's `Vec`, opening works in the caller's
/// buffer. With enough capacity in the `Vec`, sealing does not allocate.
#[derive(Clone)]
pub struct Cipher {
    aead: XSalsa20Poly1305,
    send_seq: u64,
    recv_seq: u64,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cipher")
            .field("send_seq", &self.send_seq)
            .field("recv_seq", &self.recv_seq)
            .finish_non_exhaustive()
    }
}

impl Cipher {
    /// A cipher for a fresh connection: both counters at 0.
    #[must_use]
    pub fn new(key: &[u8; 32]) -> Self {
        Self::with_counters(key, 0, 0)
    }

    /// A cipher whose counters already stand at the given values.
    #[must_use]
    pub fn with_counters(key: &[u8; 32], send_seq: u64, recv_seq: u64) -> Self {
        Self {
            aead: XSalsa20Poly1305::new(key.into()),
            send_seq,
            recv_seq,
        }
    }

    /// The counter of the last sealed frame (0 before the first).
    #[must_use]
    pub fn send_seq(&self) -> u64 {
        self.send_seq
    }

    /// The counter of the last opened frame (0 before the first).
    #[must_use]
    pub fn recv_seq(&self) -> u64 {
        self.recv_seq
    }

    /// Seals a payload that `write` appends to `out`, and frames it: the header, the tag and
    /// the ciphertext are appended to `out`. `write` must append exactly `plaintext_len`
    /// bytes; it writes into `out` directly, so the plaintext is never copied.
    ///
    /// # Errors
    /// [`ApiMisuse::PayloadLengthMismatch`] when `write` appends another length,
    /// [`ApiMisuse::FrameTooLarge`], or [`ApiMisuse::CounterExhausted`]. On error `out` is
    /// restored and the counter is unchanged.
    pub fn seal_frame_with(
        &mut self,
        plaintext_len: usize,
        out: &mut Vec<u8>,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), Error> {
        let seq = self
            .send_seq
            .checked_add(1)
            .ok_or(ApiMisuse::CounterExhausted)?;
        let sealed_len = plaintext_len
            .checked_add(TAG_LEN)
            .ok_or(ApiMisuse::FrameTooLarge { len: plaintext_len })?;
        let restore = out.len();
        framing::write_header(sealed_len, out)?;
        let tag_at = out.len();
        out.extend_from_slice(&[0u8; TAG_LEN]);
        let body_at = out.len();
        write(out);
        let written = out.len() - body_at;
        if written != plaintext_len {
            out.truncate(restore);
            return Err(ApiMisuse::PayloadLengthMismatch {
                declared: plaintext_len,
                written,
            }
            .into());
        }
        let Ok(tag) = self
            .aead
            .encrypt_in_place_detached(&nonce(seq), &[], &mut out[body_at..])
        else {
            out.truncate(restore);
            return Err(ApiMisuse::FrameTooLarge { len: plaintext_len }.into());
        };
        out[tag_at..body_at].copy_from_slice(&tag);
        self.send_seq = seq;
        Ok(())
    }

    /// Seals and frames `plaintext`, appending to `out`.
    ///
    /// # Errors
    /// As [`seal_frame_with`](Self::seal_frame_with).
    pub fn seal_frame(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.seal_frame_with(plaintext.len(), out, |out| {
            out.extend_from_slice(plaintext);
        })
    }

    /// Encodes `message` straight into `out`, seals it in place and frames it.
    ///
    /// # Errors
    /// As [`seal_frame_with`](Self::seal_frame_with).
    pub fn seal_message(
        &mut self,
        message: &(impl Payload + ?Sized),
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        self.seal_frame_with(message.payload_len(), out, |out| message.write_payload(out))
    }

    /// Opens one received frame payload in place and returns the plaintext. Payloads of at
    /// most one byte are returned as they are and do not advance the counter (spec §1.2).
    ///
    /// # Errors
    /// [`PeerMisbehaved::SealedTooShort`] or [`PeerMisbehaved::DecryptionFailed`]; the
    /// counter has then advanced as the peer's has, and the stream cannot recover.
    pub fn open<'a>(&mut self, payload: &'a mut [u8]) -> Result<&'a mut [u8], Error> {
        if payload.len() <= 1 {
            return Ok(payload);
        }
        // The peer counted this frame, whatever its fate here.
        self.recv_seq = self.recv_seq.wrapping_add(1);
        let seq = self.recv_seq;
        if payload.len() < TAG_LEN {
            return Err(PeerMisbehaved::SealedTooShort { len: payload.len() }.into());
        }
        let (tag, body) = payload.split_at_mut(TAG_LEN);
        let tag = Tag::clone_from_slice(tag);
        self.aead
            .decrypt_in_place_detached(&nonce(seq), &[], body, &tag)
            .map_err(|_| PeerMisbehaved::DecryptionFailed { seq })?;
        Ok(body)
    }
}

/// `LE64(counter) ‖ 16 zero bytes`.
fn nonce(seq: u64) -> Nonce {
    let mut nonce = Nonce::default();
    nonce[..8].copy_from_slice(&seq.to_le_bytes());
    nonce
}

/// A connection's frame layer after the handshake: sealed with a [`Cipher`], or plain when the
/// handshake fell back to an unencrypted session (spec §4.5).
///
/// The methods mirror [`Cipher`]'s; in plain mode they only frame.
#[derive(Debug, Clone)]
pub struct Channel {
    cipher: Option<Cipher>,
}

impl Channel {
    /// A channel that seals every frame with `cipher`.
    #[must_use]
    pub fn encrypted(cipher: Cipher) -> Self {
        Self {
            cipher: Some(cipher),
        }
    }

    /// A channel that frames without sealing.
    #[must_use]
    pub fn plain() -> Self {
        Self { cipher: None }
    }

    /// Whether frames are sealed.
    #[must_use]
    pub fn is_encrypted(&self) -> bool {
        self.cipher.is_some()
    }

    /// The cipher, when encrypted.
    #[must_use]
    pub fn cipher(&self) -> Option<&Cipher> {
        self.cipher.as_ref()
    }

    /// See [`Cipher::seal_frame_with`].
    ///
    /// # Errors
    /// As [`Cipher::seal_frame_with`].
    pub fn seal_frame_with(
        &mut self,
        plaintext_len: usize,
        out: &mut Vec<u8>,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), Error> {
        match &mut self.cipher {
            Some(cipher) => cipher.seal_frame_with(plaintext_len, out, write),
            None => {
                let restore = out.len();
                framing::write_header(plaintext_len, out)?;
                let body_at = out.len();
                write(out);
                let written = out.len() - body_at;
                if written != plaintext_len {
                    out.truncate(restore);
                    return Err(ApiMisuse::PayloadLengthMismatch {
                        declared: plaintext_len,
                        written,
                    }
                    .into());
                }
                Ok(())
            }
        }
    }

    /// See [`Cipher::seal_frame`].
    ///
    /// # Errors
    /// As [`Cipher::seal_frame_with`].
    pub fn seal_frame(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.seal_frame_with(plaintext.len(), out, |out| {
            out.extend_from_slice(plaintext);
        })
    }

    /// See [`Cipher::seal_message`].
    ///
    /// # Errors
    /// As [`Cipher::seal_frame_with`].
    pub fn seal_message(
        &mut self,
        message: &(impl Payload + ?Sized),
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        self.seal_frame_with(message.payload_len(), out, |out| message.write_payload(out))
    }

    /// See [`Cipher::open`]; in plain mode the payload is returned as it is.
    ///
    /// # Errors
    /// As [`Cipher::open`].
    pub fn open<'a>(&mut self, payload: &'a mut [u8]) -> Result<&'a mut [u8], Error> {
        match &mut self.cipher {
            Some(cipher) => cipher.open(payload),
            None => Ok(payload),
        }
    }
}
