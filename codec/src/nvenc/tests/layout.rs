//! The bindings' struct layouts against a C compiler's view of NVIDIA's header.
//!
//! The generated bindings come from nvEncodeAPI.h 12.1. The header installed here (Debian's
//! libffmpeg-nvenc-dev, `/usr/include/ffnvcodec/nvEncodeAPI.h`) is API 11.1. A small C program,
//! compiled with `cc` at test time against that header, prints `sizeof`, `_Alignof` and
//! `offsetof` for the structures and fields whose layout is the same in 11.1 and 12.1, a few
//! bitfield positions, enum values and GUIDs; the test prints the same from Rust's view of the
//! bindings and compares.
//!
//! "full" structures are checked for size, alignment and every named field the 11.1 header
//! has (12.1 adds fields in place of reserved words, so their size did not change).
//! "prefix" structures changed size between 11.1 and 12.1 (NV_ENC_LOCK_BITSTREAM, 1544 → 1552
//! bytes; NV_ENC_PIC_PARAMS, 3344 → 3360): only their fields that kept their offset are
//! checked. Not checked this way, because 11.1 lacks them or lays them out differently: the
//! AV1 structures (NV_ENC_CONFIG_AV1, NV_ENC_PIC_PARAMS_AV1, NV_ENC_FILM_GRAIN_PARAMS_AV1), the
//! fields 12.x added (e.g. NV_ENC_INITIALIZE_PARAMS::numStateBuffers, the moved tails of
//! NV_ENC_LOCK_BITSTREAM and NV_ENC_PIC_PARAMS), the D3D12 structures, and the ME-only and
//! output-statistics structures, none of which deskcast uses.

use std::fmt::Write as _;
use std::mem::{MaybeUninit, align_of, offset_of, size_of};
use std::process::Command;

use crate::nvenc::sys;

/// Where Debian's libffmpeg-nvenc-dev puts the 11.1 header.
const HEADER_DIR: &str = "/usr/include/ffnvcodec";

macro_rules! layouts {
    ($($kind:ident $s:ident { $($f:ident),* $(,)? })*) => {
        fn rust_layouts(out: &mut Vec<String>) {
            $(
                layouts!(@size $kind $s out);
                $(out.push(format!(
                    "{}.{} {}", stringify!($s), stringify!($f), offset_of!(sys::$s, $f)
                ));)*
            )*
        }
        fn c_layouts(c: &mut String) {
            $(
                layouts!(@csize $kind $s c);
                $(writeln!(
                    c,
                    "  printf(\"{s}.{f} %zu\\n\", offsetof({s}, {f}));",
                    s = stringify!($s),
                    f = stringify!($f)
                ).unwrap();)*
            )*
        }
    };
    (@size full $s:ident $out:ident) => {
        $out.push(format!(
            "{} size {} align {}", stringify!($s), size_of::<sys::$s>(), align_of::<sys::$s>()
        ));
    };
    (@size prefix $s:ident $out:ident) => {};
    (@csize full $s:ident $c:ident) => {
        writeln!(
            $c,
            "  printf(\"{s} size %zu align %zu\\n\", sizeof({s}), _Alignof({s}));",
            s = stringify!($s)
        ).unwrap();
    };
    (@csize prefix $s:ident $c:ident) => {};
}

layouts! {
    full GUID {
        Data1, Data2, Data3, Data4
    }
    full NV_ENC_QP {
        qpInterP, qpInterB, qpIntra
    }
    full NV_ENC_CAPS_PARAM {
        version, capsToQuery
    }
    full NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS {
        version, deviceType, device, apiVersion
    }
    full NV_ENCODE_API_FUNCTION_LIST {
        version, nvEncOpenEncodeSession, nvEncGetEncodeGUIDCount,
        nvEncGetEncodeProfileGUIDCount, nvEncGetEncodeProfileGUIDs, nvEncGetEncodeGUIDs,
        nvEncGetInputFormatCount, nvEncGetInputFormats, nvEncGetEncodeCaps,
        nvEncGetEncodePresetCount, nvEncGetEncodePresetGUIDs,
        nvEncGetEncodePresetConfig, nvEncInitializeEncoder, nvEncCreateInputBuffer,
        nvEncDestroyInputBuffer, nvEncCreateBitstreamBuffer,
        nvEncDestroyBitstreamBuffer, nvEncEncodePicture, nvEncLockBitstream,
        nvEncUnlockBitstream, nvEncLockInputBuffer, nvEncUnlockInputBuffer,
        nvEncGetEncodeStats, nvEncGetSequenceParams, nvEncRegisterAsyncEvent,
        nvEncUnregisterAsyncEvent, nvEncMapInputResource, nvEncUnmapInputResource,
        nvEncDestroyEncoder, nvEncInvalidateRefFrames, nvEncOpenEncodeSessionEx,
        nvEncRegisterResource, nvEncUnregisterResource, nvEncReconfigureEncoder,
        nvEncCreateMVBuffer, nvEncDestroyMVBuffer, nvEncRunMotionEstimationOnly,
        nvEncGetLastErrorString, nvEncSetIOCudaStreams, nvEncGetEncodePresetConfigEx,
        nvEncGetSequenceParamEx
    }
    full NV_ENC_RC_PARAMS {
        version, rateControlMode, constQP, averageBitRate, maxBitRate, vbvBufferSize,
        vbvInitialDelay, minQP, maxQP, initialRCQP, temporallayerIdxMask,
        temporalLayerQP, targetQuality, targetQualityLSB, lookaheadDepth,
        lowDelayKeyFrameScale, qpMapMode, multiPass, alphaLayerBitrateRatio,
        cbQPIndexOffset, crQPIndexOffset
    }
    full NV_ENC_CONFIG_H264_VUI_PARAMETERS {
        overscanInfoPresentFlag, overscanInfo, videoSignalTypePresentFlag, videoFormat,
        videoFullRangeFlag, colourDescriptionPresentFlag, colourPrimaries,
        transferCharacteristics, colourMatrix, chromaSampleLocationFlag,
        chromaSampleLocationTop, chromaSampleLocationBot, bitstreamRestrictionFlag
    }
    full NV_ENC_CONFIG_H264 {
        level, idrPeriod, separateColourPlaneFlag, disableDeblockingFilterIDC,
        numTemporalLayers, spsId, ppsId, adaptiveTransformMode, fmoMode, bdirectMode,
        entropyCodingMode, stereoMode, intraRefreshPeriod, intraRefreshCnt,
        maxNumRefFrames, sliceMode, sliceModeData, h264VUIParameters, ltrNumFrames,
        ltrTrustMode, chromaFormatIDC, maxTemporalLayers, useBFramesAsRef, numRefL0,
        numRefL1
    }
    full NV_ENC_CONFIG_HEVC {
        level, tier, minCUSize, maxCUSize, idrPeriod, intraRefreshPeriod,
        intraRefreshCnt, maxNumRefFramesInDPB, ltrNumFrames, vpsId, spsId, ppsId,
        sliceMode, sliceModeData, maxTemporalLayersMinus1, hevcVUIParameters,
        ltrTrustMode, useBFramesAsRef, numRefL0, numRefL1
    }
    full NV_ENC_CONFIG {
        version, profileGUID, gopLength, frameIntervalP, monoChromeEncoding,
        frameFieldMode, mvPrecision, rcParams, encodeCodecConfig
    }
    full NV_ENC_PRESET_CONFIG {
        version, presetCfg
    }
    full NV_ENC_INITIALIZE_PARAMS {
        version, encodeGUID, presetGUID, encodeWidth, encodeHeight, darWidth, darHeight,
        frameRateNum, frameRateDen, enableEncodeAsync, enablePTD, privDataSize,
        privData, encodeConfig, maxEncodeWidth, maxEncodeHeight,
        maxMEHintCountsPerBlock, tuningInfo, bufferFormat
    }
    full NV_ENC_RECONFIGURE_PARAMS {
        version, reInitEncodeParams
    }
    full NV_ENC_REGISTER_RESOURCE {
        version, resourceType, width, height, pitch, subResourceIndex,
        resourceToRegister, registeredResource, bufferFormat, bufferUsage,
        pInputFencePoint
    }
    full NV_ENC_MAP_INPUT_RESOURCE {
        version, subResourceIndex, inputResource, registeredResource, mappedResource,
        mappedBufferFmt
    }
    full NV_ENC_CREATE_BITSTREAM_BUFFER {
        version, size, memoryHeap, bitstreamBuffer, bitstreamBufferPtr
    }
    full NV_ENC_PIC_PARAMS_H264 {
        displayPOCSyntax, refPicFlag, colourPlaneId, forceIntraRefreshWithFrameCnt,
        sliceTypeData, sliceTypeArrayCnt, seiPayloadArrayCnt, seiPayloadArray,
        sliceMode, sliceModeData, ltrMarkFrameIdx, ltrUseFrameBitmap, ltrUsageMode,
        forceIntraSliceCount, forceIntraSliceIdx, h264ExtPicParams
    }
    full NV_ENC_PIC_PARAMS_HEVC {
        displayPOCSyntax, refPicFlag, temporalId, forceIntraRefreshWithFrameCnt,
        sliceTypeData, sliceTypeArrayCnt, sliceMode, sliceModeData, ltrMarkFrameIdx,
        ltrUseFrameBitmap, ltrUsageMode, seiPayloadArrayCnt, seiPayloadArray
    }
    prefix NV_ENC_LOCK_BITSTREAM {
        version, outputBitstream, sliceOffsets, frameIdx, hwEncodeStatus, numSlices,
        bitstreamSizeInBytes, outputTimeStamp, outputDuration, bitstreamBufferPtr,
        pictureType, pictureStruct, frameAvgQP, frameSatd, ltrFrameIdx, ltrFrameBitmap,
        temporalId
    }
    prefix NV_ENC_PIC_PARAMS {
        version, inputWidth, inputHeight, inputPitch, encodePicFlags, frameIdx,
        inputTimeStamp, inputDuration, inputBuffer, outputBitstream, completionEvent,
        bufferFmt, pictureStruct, pictureType, codecPicParams
    }
}

/// Enum values and constants deskcast passes to or reads from the driver.
macro_rules! constants {
    ($($name:ident = $rust:expr;)*) => {
        fn rust_constants(out: &mut Vec<String>) {
            $(out.push(format!("{} {}", stringify!($name), u64::from($rust)));)*
        }
        fn c_constants(c: &mut String) {
            $(writeln!(
                c,
                "  printf(\"{n} %llu\\n\", (unsigned long long){n});",
                n = stringify!($name)
            ).unwrap();)*
        }
    };
}

constants! {
    NVENC_INFINITE_GOPLENGTH = sys::NVENC_INFINITE_GOPLENGTH;
    NV_ENC_BUFFER_FORMAT_ARGB = sys::NV_ENC_BUFFER_FORMAT::NV_ENC_BUFFER_FORMAT_ARGB.0;
    NV_ENC_INPUT_RESOURCE_TYPE_CUDADEVICEPTR =
        sys::NV_ENC_INPUT_RESOURCE_TYPE::NV_ENC_INPUT_RESOURCE_TYPE_CUDADEVICEPTR.0;
    NV_ENC_INPUT_IMAGE = sys::NV_ENC_BUFFER_USAGE::NV_ENC_INPUT_IMAGE.0;
    NV_ENC_DEVICE_TYPE_CUDA = sys::NV_ENC_DEVICE_TYPE::NV_ENC_DEVICE_TYPE_CUDA.0;
    NV_ENC_PARAMS_RC_CBR = sys::NV_ENC_PARAMS_RC_MODE::NV_ENC_PARAMS_RC_CBR.0;
    NV_ENC_TUNING_INFO_ULTRA_LOW_LATENCY =
        sys::NV_ENC_TUNING_INFO::NV_ENC_TUNING_INFO_ULTRA_LOW_LATENCY.0;
    NV_ENC_PIC_STRUCT_FRAME = sys::NV_ENC_PIC_STRUCT::NV_ENC_PIC_STRUCT_FRAME.0;
    NV_ENC_PIC_FLAG_FORCEIDR = sys::NV_ENC_PIC_FLAGS::NV_ENC_PIC_FLAG_FORCEIDR.0;
    NV_ENC_PIC_FLAG_OUTPUT_SPSPPS = sys::NV_ENC_PIC_FLAGS::NV_ENC_PIC_FLAG_OUTPUT_SPSPPS.0;
    NV_ENC_PIC_TYPE_IDR = sys::NV_ENC_PIC_TYPE::NV_ENC_PIC_TYPE_IDR.0;
    NV_ENC_PIC_TYPE_I = sys::NV_ENC_PIC_TYPE::NV_ENC_PIC_TYPE_I.0;
    NV_ENC_CAPS_WIDTH_MAX = sys::NV_ENC_CAPS::NV_ENC_CAPS_WIDTH_MAX.0;
    NV_ENC_CAPS_HEIGHT_MAX = sys::NV_ENC_CAPS::NV_ENC_CAPS_HEIGHT_MAX.0;
    NV_ENC_SUCCESS = sys::NVENCSTATUS::NV_ENC_SUCCESS.0;
    NV_ENC_ERR_NO_ENCODE_DEVICE = sys::NVENCSTATUS::NV_ENC_ERR_NO_ENCODE_DEVICE.0;
    NV_ENC_ERR_UNSUPPORTED_DEVICE = sys::NVENCSTATUS::NV_ENC_ERR_UNSUPPORTED_DEVICE.0;
    NV_ENC_ERR_OUT_OF_MEMORY = sys::NVENCSTATUS::NV_ENC_ERR_OUT_OF_MEMORY.0;
    NV_ENC_ERR_INVALID_VERSION = sys::NVENCSTATUS::NV_ENC_ERR_INVALID_VERSION.0;
    NV_ENC_ERR_NEED_MORE_INPUT = sys::NVENCSTATUS::NV_ENC_ERR_NEED_MORE_INPUT.0;
    NV_ENC_ERR_INCOMPATIBLE_CLIENT_KEY = sys::NVENCSTATUS::NV_ENC_ERR_INCOMPATIBLE_CLIENT_KEY.0;
}

/// GUIDs, which the codegen parses from the header text rather than through clang.
macro_rules! guids {
    ($($name:ident)*) => {
        fn rust_guids(out: &mut Vec<String>) {
            $({
                let g = sys::$name;
                out.push(format!(
                    "{} {:08x}-{:04x}-{:04x}-{:02x?}",
                    stringify!($name), g.Data1, g.Data2, g.Data3, g.Data4
                ));
            })*
        }
        fn c_guids(c: &mut String) {
            $(writeln!(
                c,
                "  {{ GUID g = {n}; printf(\"{n} %08x-%04x-%04x-[%02x, %02x, %02x, %02x, \
                 %02x, %02x, %02x, %02x]\\n\", g.Data1, g.Data2, g.Data3, g.Data4[0], \
                 g.Data4[1], g.Data4[2], g.Data4[3], g.Data4[4], g.Data4[5], g.Data4[6], \
                 g.Data4[7]); }}",
                n = stringify!($name)
            ).unwrap();)*
        }
    };
}

guids! {
    NV_ENC_CODEC_H264_GUID
    NV_ENC_CODEC_HEVC_GUID
    NV_ENC_PRESET_P1_GUID
    NV_ENC_PRESET_P4_GUID
    NV_ENC_H264_PROFILE_HIGH_GUID
    NV_ENC_HEVC_PROFILE_MAIN_GUID
}

/// Bitfields deskcast sets, by the bit each lands on in the structure's bytes.
macro_rules! bitfields {
    ($($s:ident . $f:ident => $setter:ident;)*) => {
        fn rust_bitfields(out: &mut Vec<String>) {
            $({
                let mut v = MaybeUninit::<sys::$s>::zeroed();
                // SAFETY: all-zero bytes are a valid value of this plain C struct (see
                // api::Zeroable); the value stays in place, so its zeroed padding stays zero.
                unsafe { v.assume_init_mut() }.$setter(1);
                // SAFETY: every byte of `v`, padding included, was written by `zeroed`.
                let bytes = unsafe {
                    std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), size_of::<sys::$s>())
                };
                out.push(format!("{}.{} bit {}", stringify!($s), stringify!($f), first_bit(bytes)));
            })*
        }
        fn c_bitfields(c: &mut String) {
            $(writeln!(
                c,
                "  {{ {s} v; memset(&v, 0, sizeof v); v.{f} = 1; \
                 printf(\"{s}.{f} bit %ld\\n\", first_bit(&v, sizeof v)); }}",
                s = stringify!($s),
                f = stringify!($f)
            ).unwrap();)*
        }
    };
}

bitfields! {
    NV_ENC_RC_PARAMS.zeroReorderDelay => set_zeroReorderDelay;
    NV_ENC_RC_PARAMS.enableLookahead => set_enableLookahead;
    NV_ENC_CONFIG_H264.repeatSPSPPS => set_repeatSPSPPS;
    NV_ENC_CONFIG_HEVC.repeatSPSPPS => set_repeatSPSPPS;
    NV_ENC_RECONFIGURE_PARAMS.forceIDR => set_forceIDR;
    NV_ENC_LOCK_BITSTREAM.doNotWait => set_doNotWait;
}

/// The index of the lowest set bit, counting from bit 0 of byte 0; -1 when none is.
fn first_bit(bytes: &[u8]) -> i64 {
    bytes
        .iter()
        .enumerate()
        .find(|(_, b)| **b != 0)
        .map_or(-1, |(i, b)| i as i64 * 8 + i64::from(b.trailing_zeros()))
}

fn c_program() -> String {
    let mut c = String::from(
        "#include <stddef.h>\n#include <stdio.h>\n#include <string.h>\n#include <nvEncodeAPI.h>\n\
         static long first_bit(const void *p, size_t n) {\n\
         \x20 const unsigned char *b = p;\n\
         \x20 for (size_t i = 0; i < n; i++)\n\
         \x20   if (b[i]) return (long)(i * 8 + __builtin_ctz(b[i]));\n\
         \x20 return -1;\n}\n\
         int main(void) {\n",
    );
    c_layouts(&mut c);
    c_constants(&mut c);
    c_guids(&mut c);
    c_bitfields(&mut c);
    c.push_str("  return 0;\n}\n");
    c
}

#[test]
fn bindings_match_the_c_compilers_layout_of_the_api_11_1_header() {
    let cc = deskcast_testkit::require_tool("cc", "gcc");
    let header = std::path::Path::new(HEADER_DIR).join("nvEncodeAPI.h");
    assert!(
        header.is_file(),
        "{} is missing: apt-get install libffmpeg-nvenc-dev",
        header.display()
    );
    let dir = tempfile::tempdir().expect("temporary directory");
    let (source, binary) = (dir.path().join("layout.c"), dir.path().join("layout"));
    std::fs::write(&source, c_program()).expect("write the C program");
    let built = Command::new(cc)
        .args(["-std=gnu11", "-Wall", "-I", HEADER_DIR, "-o"])
        .arg(&binary)
        .arg(&source)
        .output()
        .expect("run cc");
    assert!(
        built.status.success(),
        "cc failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let run = Command::new(&binary).output().expect("run the C program");
    assert!(run.status.success());
    let c_view: Vec<String> = String::from_utf8(run.stdout)
        .expect("ASCII output")
        .lines()
        .map(str::to_owned)
        .collect();

    let mut rust_view = Vec::new();
    rust_layouts(&mut rust_view);
    rust_constants(&mut rust_view);
    rust_guids(&mut rust_view);
    rust_bitfields(&mut rust_view);

    assert_eq!(
        c_view.len(),
        rust_view.len(),
        "both sides print one line per item"
    );
    let differ: Vec<String> = c_view
        .iter()
        .zip(&rust_view)
        .filter(|(c, r)| c != r)
        .map(|(c, r)| format!("C: {c}\nRust: {r}"))
        .collect();
    assert!(differ.is_empty(), "layouts differ:\n{}", differ.join("\n"));
    // A sanity check on the check itself: it compared hundreds of items, not a handful.
    assert!(
        rust_view.len() > 250,
        "only {} items compared",
        rust_view.len()
    );
}
