//! NVENC through CUDA, with both driver libraries loaded at run time.
//!
//! The FFI comes in three layers, as in cudarc:
//! 1. raw bindings: `sys`, generated from NVIDIA's `nvEncodeAPI.h` by `cargo xtask codegen`,
//!    and cudarc's `driver::sys` for CUDA;
//! 2. `unsafe fn` wrappers that turn `NVENCSTATUS` / `CUresult` into `Result`: `api`
//!    (`EncodeApi`, over the function list of `libnvidia-encode.so.1`) and `cuda::call`;
//! 3. safe RAII types: `cuda` (`Context`, `Stream`, `HostRegistration`, `PinnedBuffer`,
//!    `DeviceSurface`) and `session` (`Session` → `Encoding`, `RegisteredSurface`, `Bitstream`).
//!
//! On top sit the input path (`upload`) and the [`Encoder`] (`encoder`). Everything that can be
//! missing on a machine (libcuda, a device, libnvidia-encode, a new enough API, an encoder on the
//! GPU, a free session) turns into an [`Unavailable`] reason instead of a panic, so the agent can
//! fall back to software and say why.

#![allow(unsafe_code)] // The FFI lives here; every block carries a `// SAFETY:` comment.

mod api;
mod cuda;
mod encoder;
mod session;
mod sys;
mod upload;

use std::sync::Arc;

use self::api::{EncodeApi, NvencError};
use self::cuda::{Context, Driver, DriverError};
use self::session::Session;
use self::sys::{GUID, NVENCSTATUS};
use crate::{Backend, Capability, Codec, Encoder, EncoderConfig, Error, Unavailable};

/// What the NVIDIA driver says about itself, for diagnostics (`deskcast doctor`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriverInfo {
    /// The CUDA driver library that loaded and its CUDA version, or why none did.
    pub cuda: Result<(String, String), String>,
    /// The CUDA devices' names, or why they could not be listed.
    pub devices: Result<Vec<String>, String>,
    /// The newest NVENC API `libnvidia-encode.so.1` offers, or why it did not load.
    pub nvenc_api: Result<String, String>,
}

/// Loads the driver libraries (never panics when they are missing) and reports what they say.
pub fn driver_info() -> DriverInfo {
    let (cuda, devices) = match Driver::open() {
        Ok(driver) => {
            let devices = driver
                .device_count()
                .map_err(|e| e.to_string())
                .and_then(|n| {
                    (0..n)
                        .map(|i| {
                            driver
                                .device(i)
                                .map(|d| d.name().to_owned())
                                .map_err(|e| e.to_string())
                        })
                        .collect()
                });
            (Ok((driver.library().to_owned(), driver.version())), devices)
        }
        Err(e) => (Err(e.to_string()), Err("no CUDA driver".to_owned())),
    };
    let nvenc_api = EncodeApi::load()
        .map(|api| api.max_version().to_string())
        .map_err(|e| e.to_string());
    DriverInfo {
        cuda,
        devices,
        nvenc_api,
    }
}

/// What NVENC can encode here: one entry per codec, each with the reason when it cannot.
pub(crate) fn probe() -> Vec<Capability> {
    let entry = |codec, status| Capability {
        backend: Backend::Nvenc,
        codec,
        status,
    };
    let gpu = match Gpu::open() {
        Ok(gpu) => gpu,
        Err(reason) => {
            tracing::info!("NVENC unavailable: {reason}");
            return Codec::ALL
                .iter()
                .map(|&c| {
                    let status = match codec_guid(c) {
                        Some(_) => Err(reason.clone()),
                        None => Err(not_nvenc_reason(c)),
                    };
                    entry(c, status)
                })
                .collect();
        }
    };
    let guids = gpu.session.codecs().map_err(|e| gpu.unavailable(e));
    Codec::ALL
        .iter()
        .map(|&c| {
            let status = match (codec_guid(c), &guids) {
                (None, _) => Err(not_nvenc_reason(c)),
                (Some(_), Err(reason)) => Err(reason.clone()),
                (Some(_), Ok(list)) if list.is_empty() => Err(gpu.no_encoder()),
                (Some(g), Ok(list)) => gpu.supports(c, g, list, None),
            };
            if let Err(reason) = &status {
                tracing::info!("NVENC {c}: {reason}");
            }
            entry(c, status)
        })
        .collect()
}

/// Opens an NVENC encoder for `config` on the first CUDA device.
pub(crate) fn open(config: &EncoderConfig) -> Result<Box<dyn Encoder>, Error> {
    let guid = codec_guid(config.codec).ok_or_else(|| not_nvenc_codec(config.codec))?;
    if config.width == 0 || config.height == 0 || config.fps == 0 || config.bitrate_kbps == 0 {
        return Err(Error::InvalidInput(format!(
            "width, height, fps and bitrate must be positive: {config:?}"
        )));
    }
    let unavailable = |reason| Error::Unavailable {
        backend: Backend::Nvenc,
        reason,
    };
    let gpu = Gpu::open().map_err(unavailable)?;
    let guids = gpu
        .session
        .codecs()
        .map_err(|e| unavailable(gpu.unavailable(e)))?;
    if guids.is_empty() {
        return Err(unavailable(gpu.no_encoder()));
    }
    gpu.supports(
        config.codec,
        guid,
        &guids,
        Some((config.width, config.height)),
    )
    .map_err(unavailable)?;
    let encoder = encoder::NvencEncoder::new(&gpu.ctx, gpu.session, config)?;
    tracing::info!(
        "NVENC {} {}x{} on {} (CUDA {}, NVENC API {})",
        config.codec,
        config.width,
        config.height,
        gpu.ctx.device().name(),
        gpu.driver_version,
        gpu.api_version
    );
    Ok(Box::new(encoder))
}

/// The NVENC codec GUID for `codec`, or `None` when NVENC has no such encoder.
fn codec_guid(codec: Codec) -> Option<GUID> {
    match codec {
        Codec::H264 => Some(sys::NV_ENC_CODEC_H264_GUID),
        Codec::H265 => Some(sys::NV_ENC_CODEC_HEVC_GUID),
        Codec::Av1 => Some(sys::NV_ENC_CODEC_AV1_GUID),
        _ => None,
    }
}

fn not_nvenc_reason(codec: Codec) -> Unavailable {
    Unavailable::Codec {
        codec,
        detail: "NVENC encodes only H.264, HEVC and AV1".into(),
    }
}

fn not_nvenc_codec(codec: Codec) -> Error {
    Error::Unavailable {
        backend: Backend::Nvenc,
        reason: not_nvenc_reason(codec),
    }
}

/// A failure after the session was up: the encoder should be replaced.
fn backend_error(e: impl std::fmt::Display) -> Error {
    Error::Backend {
        backend: Backend::Nvenc,
        detail: e.to_string(),
    }
}

/// Everything up to an open (not yet initialised) session on device 0.
struct Gpu {
    ctx: Arc<Context>,
    session: Session,
    driver_version: String,
    api_version: api::ApiVersion,
}

impl Gpu {
    fn open() -> Result<Self, Unavailable> {
        let driver = Driver::open().map_err(driver_unavailable)?;
        let cuda = |e: cuda::CudaError| {
            driver_unavailable(DriverError::Call {
                library: driver.library().to_owned(),
                source: e,
            })
        };
        if driver.device_count().map_err(cuda)? < 1 {
            return Err(Unavailable::NoDevice(format!(
                "{} sees no CUDA device",
                driver.library()
            )));
        }
        let device = driver.device(0).map_err(cuda)?;
        let ctx = Context::primary(&driver, &device).map_err(cuda)?;
        let api = Arc::new(EncodeApi::load().map_err(encode_library_unavailable)?);
        let session = Session::open(&api, &ctx)
            .map_err(|e| session_unavailable(&e, device.name(), api.max_version()))?;
        Ok(Self {
            ctx,
            session,
            driver_version: driver.version(),
            api_version: api.max_version(),
        })
    }

    fn unavailable(&self, e: NvencError) -> Unavailable {
        session_unavailable(&e, self.ctx.device().name(), self.api_version)
    }

    fn no_encoder(&self) -> Unavailable {
        Unavailable::NoEncoder(format!(
            "{} (CUDA device {}) lists no encode GUIDs",
            self.ctx.device().name(),
            self.ctx.device().ordinal()
        ))
    }

    /// Whether the device encodes `codec` from ARGB input (at `size`, when given).
    fn supports(
        &self,
        codec: Codec,
        guid: GUID,
        list: &[GUID],
        size: Option<(u32, u32)>,
    ) -> Result<(), Unavailable> {
        let no = |detail: String| Unavailable::Codec { codec, detail };
        let device = self.ctx.device().name();
        if !list.contains(&guid) {
            return Err(no(format!("{device} has no {codec} encoder")));
        }
        let formats = self
            .session
            .input_formats(guid)
            .map_err(|e| self.unavailable(e))?;
        if !formats.contains(&sys::NV_ENC_BUFFER_FORMAT::NV_ENC_BUFFER_FORMAT_ARGB) {
            return Err(no(format!("{device} takes no ARGB input for {codec}")));
        }
        if let Some((w, h)) = size {
            let cap = |c| self.session.caps(guid, c).map_err(|e| self.unavailable(e));
            let max_w = cap(sys::NV_ENC_CAPS::NV_ENC_CAPS_WIDTH_MAX)?;
            let max_h = cap(sys::NV_ENC_CAPS::NV_ENC_CAPS_HEIGHT_MAX)?;
            if i64::from(w) > i64::from(max_w) || i64::from(h) > i64::from(max_h) {
                return Err(no(format!(
                    "{w}x{h} exceeds {device}'s {codec} limit of {max_w}x{max_h}"
                )));
            }
        }
        Ok(())
    }
}

/// The reason CUDA itself is unusable.
fn driver_unavailable(e: DriverError) -> Unavailable {
    match &e {
        DriverError::Load(cuda::LoadError::MissingSymbol { library, symbol }) => {
            Unavailable::ApiTooOld {
                have: format!("{library} without {symbol}"),
                need: "a CUDA 11 or newer driver".into(),
            }
        }
        DriverError::Load(_) => Unavailable::NoDriver(e.to_string()),
        DriverError::Call { source, .. } => match source.code {
            cuda::code::SYSTEM_DRIVER_MISMATCH | cuda::code::SYSTEM_NOT_READY => {
                Unavailable::NoDriver(e.to_string())
            }
            cuda::code::NO_DEVICE => Unavailable::NoDevice(e.to_string()),
            // Anything else (a missing or broken device node, a newer code): no usable device.
            _ => Unavailable::NoDevice(e.to_string()),
        },
    }
}

/// The reason `libnvidia-encode` is unusable.
fn encode_library_unavailable(e: api::LoadError) -> Unavailable {
    match e {
        api::LoadError::TooOld { have, need } => Unavailable::ApiTooOld {
            have: format!("NVENC API {have}"),
            need: format!("NVENC API {need}"),
        },
        other => Unavailable::NoDriver(other.to_string()),
    }
}

/// The reason a session could not be opened (or queried) on `device`.
fn session_unavailable(e: &NvencError, device: &str, have: api::ApiVersion) -> Unavailable {
    let s = e.status;
    if s == NVENCSTATUS::NV_ENC_ERR_INCOMPATIBLE_CLIENT_KEY
        || s == NVENCSTATUS::NV_ENC_ERR_OUT_OF_MEMORY
    {
        Unavailable::SessionLimit(format!(
            "{device}: {e} (GeForce cards allow 8 encode sessions per system)"
        ))
    } else if s == NVENCSTATUS::NV_ENC_ERR_INVALID_VERSION {
        Unavailable::ApiTooOld {
            have: format!("NVENC API {have}"),
            need: format!("NVENC API {}", api::ApiVersion(api::REQUIRED_VERSION)),
        }
    } else {
        // NO_ENCODE_DEVICE, UNSUPPORTED_DEVICE, DEVICE_NOT_EXIST and the rest: a GPU whose
        // driver will not give it an encoder (data-centre parts such as H100/H200 have none).
        Unavailable::NoEncoder(format!("{device}: {e}"))
    }
}

#[cfg(test)]
mod tests;
