//! Choosing where models run: `auto`, `gpu` or `cpu`, with the reason reported to the user.
//!
//! This build carries Burn's CPU backend (`flex`) only; the wgpu backend is not compiled in yet,
//! so `auto` resolves to the CPU and says why, and `gpu` is refused with the fix.

use std::fmt;
use std::str::FromStr;

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// A hardware GPU when one exists, else the CPU; never a software GPU adapter.
    #[default]
    Auto,
    Gpu,
    Cpu,
}

impl FromStr for DeviceChoice {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        match s.trim() {
            "auto" => Ok(Self::Auto),
            "gpu" => Ok(Self::Gpu),
            "cpu" => Ok(Self::Cpu),
            other => Err(ModelError::Device(format!("unknown device {other:?}: valid devices are auto, gpu, cpu"))),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Gpu => "gpu",
            Self::Cpu => "cpu",
        })
    }
}

/// The device chosen, what it is, and why.
#[derive(Debug, Clone)]
pub struct SelectedDevice {
    pub device: Device,
    /// E.g. `cpu (burn flex)`.
    pub name: String,
    pub is_gpu: bool,
    pub reason: String,
}

/// Resolves the user's choice to a device.
pub fn select_device(choice: DeviceChoice) -> Result<SelectedDevice, ModelError> {
    let cpu = |reason: &str| SelectedDevice {
        device: Device::flex(),
        name: "cpu (burn flex)".to_string(),
        is_gpu: false,
        reason: reason.to_string(),
    };
    match choice {
        DeviceChoice::Cpu => Ok(cpu("asked for the CPU")),
        DeviceChoice::Auto => Ok(cpu("this build has no GPU backend compiled in, so the CPU backend is used")),
        DeviceChoice::Gpu => Err(ModelError::Device(
            "this build has no GPU backend compiled in; use --device cpu (or auto)".to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_cpu_is_named() {
        assert_eq!("gpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Gpu);
        assert!("tpu".parse::<DeviceChoice>().unwrap_err().to_string().contains("auto, gpu, cpu"));
        let d = select_device(DeviceChoice::Auto).unwrap();
        assert!(!d.is_gpu && !d.reason.is_empty());
        assert!(select_device(DeviceChoice::Gpu).is_err());
    }
}
