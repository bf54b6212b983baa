//! Which (backend, codec) a viewer gets, from what its decoder supports and what this machine can
//! encode.
//!
//! Rules, in order:
//! 1. A codec is a candidate only if the client can decode it (VP9 always: every client has
//!    libvpx) and this machine can encode it (`codec::probe`).
//! 2. The client's explicit preference wins when it is a candidate, on NVENC if NVENC has it.
//! 3. With no usable preference, hardware first: NVENC H.265, H.264, AV1 — they cost the CPU
//!    nothing. Without NVENC, software VP9: the codec every client decodes and the one RustDesk
//!    itself falls back to.
//! 4. Nothing usable at all still yields software VP9, which never depends on the GPU.

use deskcast_codec::{Backend, Capabilities, Codec};

/// What a client's decoders can do (from `SupportedDecoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientDecoders {
    /// VP8 decoder present.
    pub vp8: bool,
    /// VP9 decoder present (assumed: every RustDesk client has it).
    pub vp9: bool,
    /// AV1 decoder present.
    pub av1: bool,
    /// H.264 decoder present.
    pub h264: bool,
    /// H.265 decoder present.
    pub h265: bool,
    /// The user's codec choice for this peer, if not "Auto".
    pub prefer: Option<Codec>,
}

impl ClientDecoders {
    /// A client that sent no `SupportedDecoding`: treated as VP9-only, like RustDesk does.
    pub const VP9_ONLY: Self = Self {
        vp8: false,
        vp9: true,
        av1: false,
        h264: false,
        h265: false,
        prefer: None,
    };

    /// Whether the client can decode `codec`.
    pub fn can(&self, codec: Codec) -> bool {
        match codec {
            Codec::Vp8 => self.vp8,
            Codec::Vp9 => true,
            Codec::Av1 => self.av1,
            Codec::H264 => self.h264,
            Codec::H265 => self.h265,
            _ => false,
        }
    }
}

/// Picks the backend and codec for a viewer. `nvenc_allowed` is false when the configuration
/// turns NVENC off or this agent has used up its NVENC sessions.
pub fn choose(
    client: &ClientDecoders,
    caps: &Capabilities,
    nvenc_allowed: bool,
) -> (Backend, Codec) {
    let usable = |backend: Backend, codec: Codec| {
        (backend != Backend::Nvenc || nvenc_allowed)
            && client.can(codec)
            && caps.can(backend, codec)
    };
    if let Some(codec) = client.prefer {
        for backend in [Backend::Nvenc, Backend::Software] {
            if usable(backend, codec) {
                return (backend, codec);
            }
        }
    }
    for codec in [Codec::H265, Codec::H264, Codec::Av1] {
        if usable(Backend::Nvenc, codec) {
            return (Backend::Nvenc, codec);
        }
    }
    (Backend::Software, Codec::Vp9)
}

#[cfg(test)]
mod tests {
    use deskcast_codec::{Capability, Unavailable};

    use super::*;

    fn caps(available: &[(Backend, Codec)]) -> Capabilities {
        let mut entries = Vec::new();
        for backend in [Backend::Software, Backend::Nvenc] {
            for codec in Codec::ALL {
                let ok = available.contains(&(backend, codec));
                let status = if ok {
                    Ok(())
                } else {
                    Err(Unavailable::NotBuilt("test"))
                };
                entries.push(Capability {
                    backend,
                    codec,
                    status,
                });
            }
        }
        Capabilities { entries }
    }

    const ALL_DECODERS: ClientDecoders = ClientDecoders {
        vp8: true,
        vp9: true,
        av1: true,
        h264: true,
        h265: true,
        prefer: None,
    };
    const SOFTWARE: &[(Backend, Codec)] = &[
        (Backend::Software, Codec::Vp9),
        (Backend::Software, Codec::Vp8),
        (Backend::Software, Codec::H264),
    ];

    #[test]
    fn software_machines_default_to_vp9_and_honour_a_usable_preference() {
        let c = caps(SOFTWARE);
        assert_eq!(
            choose(&ALL_DECODERS, &c, true),
            (Backend::Software, Codec::Vp9)
        );
        let wants_h264 = ClientDecoders {
            prefer: Some(Codec::H264),
            ..ALL_DECODERS
        };
        assert_eq!(
            choose(&wants_h264, &c, true),
            (Backend::Software, Codec::H264)
        );
        let wants_h265 = ClientDecoders {
            prefer: Some(Codec::H265),
            ..ALL_DECODERS
        };
        assert_eq!(
            choose(&wants_h265, &c, true),
            (Backend::Software, Codec::Vp9),
            "no H.265 encoder here"
        );
        let no_h264_decoder = ClientDecoders {
            h264: false,
            ..wants_h264
        };
        assert_eq!(
            choose(&no_h264_decoder, &c, true),
            (Backend::Software, Codec::Vp9)
        );
    }

    #[test]
    fn nvenc_is_preferred_when_present_allowed_and_decodable() {
        let mut avail = SOFTWARE.to_vec();
        avail.extend([(Backend::Nvenc, Codec::H264), (Backend::Nvenc, Codec::H265)]);
        let c = caps(&avail);
        assert_eq!(
            choose(&ALL_DECODERS, &c, true),
            (Backend::Nvenc, Codec::H265)
        );
        let no_hevc = ClientDecoders {
            h265: false,
            ..ALL_DECODERS
        };
        assert_eq!(choose(&no_hevc, &c, true), (Backend::Nvenc, Codec::H264));
        assert_eq!(
            choose(&ALL_DECODERS, &c, false),
            (Backend::Software, Codec::Vp9),
            "cap reached"
        );
        assert_eq!(
            choose(&ClientDecoders::VP9_ONLY, &c, true),
            (Backend::Software, Codec::Vp9)
        );
        let wants_vp8 = ClientDecoders {
            prefer: Some(Codec::Vp8),
            ..ALL_DECODERS
        };
        assert_eq!(
            choose(&wants_vp8, &c, true),
            (Backend::Software, Codec::Vp8)
        );
    }

    #[test]
    fn nothing_available_still_gives_vp9_software() {
        assert_eq!(
            choose(&ALL_DECODERS, &caps(&[]), true),
            (Backend::Software, Codec::Vp9)
        );
    }
}
