//! Choosing where models run: `auto`, `gpu` or `cpu`, with the reason reported to the user.
//!
//! `auto` takes a hardware GPU adapter (discrete, then integrated) through Burn's wgpu backend
//! when the build has one (feature `gpu`), else the CPU backend (`flex`). It never takes a
//! software adapter such as lavapipe/llvmpipe: those are several times slower than `flex`, so
//! they are used only when `gpu` is asked for explicitly and nothing better exists.

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

use crate::{DeviceChoice, ModelError};

/// A graphics adapter wgpu can see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterSummary {
    pub name: String,
    /// Vulkan, Metal, Dx12, Gl.
    pub backend: String,
    /// DiscreteGpu, IntegratedGpu, VirtualGpu, Cpu (a software rasteriser), Other.
    pub device_type: String,
    /// A real GPU (discrete or integrated), as opposed to a software or virtual adapter.
    pub hardware: bool,
    /// The driver's name and version, as the adapter reports them (empty where it does not).
    #[serde(default)]
    pub driver: String,
}

/// The device chosen, what it is, and why.
#[derive(Debug, Clone)]
pub struct SelectedDevice {
    pub device: Device,
    /// E.g. `cpu (burn flex)` or `gpu: NVIDIA H100 (Vulkan, DiscreteGpu)`.
    pub name: String,
    pub is_gpu: bool,
    pub reason: String,
}

fn cpu(reason: String) -> SelectedDevice {
    SelectedDevice {
        device: Device::flex(),
        name: "cpu (burn flex)".to_string(),
        is_gpu: false,
        reason,
    }
}

/// Whether this build carries the wgpu backend.
pub const GPU_BACKEND_COMPILED: bool = cfg!(feature = "gpu");

/// For tests that need a GPU: true when the test should skip (it prints why), false when an
/// adapter is there. With `ATB_REQUIRE_GPU` set (CI, where `scripts/setup.sh` installed Mesa's
/// software Vulkan device) a missing GPU fails the test instead, so a GPU test never passes by
/// skipping where a GPU is promised.
pub fn skip_without_gpu() -> bool {
    let missing = if !GPU_BACKEND_COMPILED {
        "this build has no GPU backend (feature `gpu` off)"
    } else if list_adapters().is_empty() {
        "wgpu sees no adapter (install mesa-vulkan-drivers for a software one)"
    } else {
        return false;
    };
    assert!(
        std::env::var_os("ATB_REQUIRE_GPU").is_none(),
        "ATB_REQUIRE_GPU is set but {missing}"
    );
    println!("SKIPPED: {missing}");
    true
}

/// Adapters wgpu sees (empty when the build has no GPU backend). Enumerated once per process:
/// creating a wgpu instance wakes every graphics driver, and `auto` asks before each run and
/// forecast.
pub fn list_adapters() -> Vec<AdapterSummary> {
    #[cfg(feature = "gpu")]
    {
        static ADAPTERS: std::sync::OnceLock<Vec<AdapterSummary>> = std::sync::OnceLock::new();
        ADAPTERS.get_or_init(gpu::adapters).clone()
    }
    #[cfg(not(feature = "gpu"))]
    {
        Vec::new()
    }
}

/// The adapter `auto` would consider: the first hardware GPU (discrete, then integrated).
pub fn hardware_adapter(adapters: &[AdapterSummary]) -> Option<&AdapterSummary> {
    adapters
        .iter()
        .find(|a| a.device_type == "DiscreteGpu")
        .or_else(|| adapters.iter().find(|a| a.device_type == "IntegratedGpu"))
}

/// The GPU device for one adapter, named as the device line names it.
pub fn adapter_device(a: &AdapterSummary, reason: String) -> Result<SelectedDevice, ModelError> {
    gpu_device(a).map(|device| SelectedDevice {
        device,
        name: format!("gpu: {} ({}, {})", a.name, a.backend, a.device_type),
        is_gpu: true,
        reason,
    })
}

/// The CPU device (Burn's flex backend) with `reason`.
pub fn cpu_device(reason: String) -> SelectedDevice {
    cpu(reason)
}

/// Resolves the user's choice to a device, given the adapters present.
pub fn select_device(choice: DeviceChoice) -> Result<SelectedDevice, ModelError> {
    if choice == DeviceChoice::Cpu {
        // No adapter probe: it costs time and wakes graphics drivers for nothing.
        return select_from(choice, &[]);
    }
    select_from(choice, &list_adapters())
}

fn select_from(
    choice: DeviceChoice,
    adapters: &[AdapterSummary],
) -> Result<SelectedDevice, ModelError> {
    let hardware = hardware_adapter(adapters);
    let software = adapters.iter().find(|a| !a.hardware);
    let describe =
        |a: &AdapterSummary| format!("gpu: {} ({}, {})", a.name, a.backend, a.device_type);
    match choice {
        DeviceChoice::Cpu => Ok(cpu("asked for the CPU".into())),
        DeviceChoice::Auto => match hardware {
            Some(a) => gpu_device(a).map(|device| SelectedDevice {
                device,
                name: describe(a),
                is_gpu: true,
                reason: format!("auto: {} is a hardware GPU", a.name),
            }),
            None if !GPU_BACKEND_COMPILED => Ok(cpu(
                "auto: this build has no GPU backend (built without the `gpu` feature)".into(),
            )),
            None => Ok(cpu(match software {
                Some(s) => format!(
                    "auto: no hardware GPU adapter; {} is a software adapter, slower than the CPU backend \
                     (use --device gpu to force it)",
                    s.name
                ),
                None => {
                    "auto: no GPU adapter found (install the GPU's Vulkan driver to use it)".into()
                }
            })),
        },
        DeviceChoice::Gpu => {
            if !GPU_BACKEND_COMPILED {
                return Err(ModelError::Device(
                    "this build has no GPU backend: rebuild atb with its `gpu` feature, or train on the cpu device".into(),
                ));
            }
            match hardware.or(software) {
                Some(a) => gpu_device(a).map(|device| SelectedDevice {
                    device,
                    name: describe(a),
                    is_gpu: true,
                    reason: if a.hardware {
                        format!("asked for the GPU: {}", a.name)
                    } else {
                        format!("asked for the GPU: only the software adapter {} exists; expect it to be slower than the cpu device", a.name)
                    },
                }),
                None => Err(ModelError::Device(
                    "no GPU adapter found: install the GPU's Vulkan driver (or mesa-vulkan-drivers for a software one), \
                     or train on the cpu device"
                        .into(),
                )),
            }
        }
    }
}

#[cfg(feature = "gpu")]
fn gpu_device(a: &AdapterSummary) -> Result<Device, ModelError> {
    use burn::prelude::DeviceKind;
    Ok(Device::wgpu(match a.device_type.as_str() {
        "DiscreteGpu" => DeviceKind::DiscreteGpu(0),
        "IntegratedGpu" => DeviceKind::IntegratedGpu(0),
        "VirtualGpu" => DeviceKind::VirtualGpu(0),
        _ => DeviceKind::Cpu,
    }))
}

#[cfg(not(feature = "gpu"))]
fn gpu_device(_: &AdapterSummary) -> Result<Device, ModelError> {
    Err(ModelError::Device("this build has no GPU backend".into()))
}

/// The GPU kernel dispatches some work issued, by kernel name (CubeCL's short form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchCount {
    pub total: usize,
    /// Kernel name and how many times it was issued, most frequent first.
    pub by_kernel: Vec<(String, usize)>,
}

/// Runs `work` and counts the GPU kernels it issues (every runtime, every stream, this process).
/// Counting is by CubeCL's launch observer, called on the issuing thread before submission, so
/// it needs no device timing. Without a GPU backend the count is zero.
pub fn count_dispatches<R>(work: impl FnOnce() -> R) -> (R, DispatchCount) {
    #[cfg(feature = "gpu")]
    {
        gpu::count_dispatches(work)
    }
    #[cfg(not(feature = "gpu"))]
    {
        (work(), DispatchCount::default())
    }
}

/// Puts CubeCL's kernel and autotune cache in `dir` (e.g. under `ATB_HOME`) so an installed app
/// is fast from its second run. Must run before the first GPU device is used; returns false if
/// the cache location was already fixed (or the build has no GPU backend).
pub fn set_gpu_kernel_cache(dir: &std::path::Path) -> bool {
    #[cfg(feature = "gpu")]
    {
        gpu::set_cache_dir(dir)
    }
    #[cfg(not(feature = "gpu"))]
    {
        let _ = dir;
        false
    }
}

#[cfg(feature = "gpu")]
mod gpu {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    use std::thread::Thread;

    use super::AdapterSummary;

    struct ThreadWaker(Thread);

    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    /// Drives a future to completion on this thread (adapter enumeration is ready at once on
    /// native platforms; this only avoids an async runtime dependency).
    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    }

    pub fn adapters() -> Vec<AdapterSummary> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        block_on(instance.enumerate_adapters(wgpu::Backends::all()))
            .iter()
            .map(|adapter| {
                let info = adapter.get_info();
                let hardware = matches!(
                    info.device_type,
                    wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::IntegratedGpu
                );
                AdapterSummary {
                    name: info.name,
                    backend: format!("{:?}", info.backend),
                    device_type: format!("{:?}", info.device_type),
                    hardware,
                    driver: format!("{} {}", info.driver, info.driver_info)
                        .trim()
                        .to_string(),
                }
            })
            .collect()
    }

    #[derive(Default)]
    struct Counter(std::sync::Mutex<std::collections::HashMap<&'static str, usize>>);

    impl cubecl_runtime::logging::LaunchObserver for Counter {
        fn launched(&self, kernel: &'static str) {
            let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
            *counts.entry(kernel).or_default() += 1;
        }
    }

    pub fn count_dispatches<R>(work: impl FnOnce() -> R) -> (R, super::DispatchCount) {
        let counter = Arc::new(Counter::default());
        let watching = cubecl_runtime::logging::LaunchObservation::new(counter.clone());
        let out = work();
        drop(watching);
        let counts = std::mem::take(&mut *counter.0.lock().unwrap_or_else(|e| e.into_inner()));
        let mut by_kernel: Vec<(String, usize)> = counts
            .into_iter()
            .map(|(k, n)| {
                (
                    cubecl_runtime::config::type_name_format(
                        k,
                        cubecl_runtime::config::TypeNameFormatLevel::Short,
                    ),
                    n,
                )
            })
            .collect();
        by_kernel.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let total = by_kernel.iter().map(|(_, n)| n).sum();
        (out, super::DispatchCount { total, by_kernel })
    }

    pub fn set_cache_dir(dir: &std::path::Path) -> bool {
        use cubecl_runtime::config::cache::CacheConfig;
        use cubecl_runtime::config::{CubeClRuntimeConfig, RuntimeConfig};
        let mut config = CubeClRuntimeConfig::default();
        config.environment.path = CacheConfig::Directory(dir.to_path_buf());
        CubeClRuntimeConfig::try_set(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(name: &str, device_type: &str) -> AdapterSummary {
        AdapterSummary {
            name: name.into(),
            backend: "Vulkan".into(),
            device_type: device_type.into(),
            hardware: matches!(device_type, "DiscreteGpu" | "IntegratedGpu"),
            driver: String::new(),
        }
    }

    #[test]
    fn choices_parse() {
        assert_eq!("gpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Gpu);
        assert!(
            "tpu"
                .parse::<DeviceChoice>()
                .unwrap_err()
                .to_string()
                .contains("auto, gpu or cpu")
        );
    }

    #[test]
    fn auto_never_takes_a_software_adapter() {
        let lavapipe = [adapter("llvmpipe (LLVM 15.0.6, 256 bits)", "Cpu")];
        let d = select_from(DeviceChoice::Auto, &lavapipe).unwrap();
        assert!(!d.is_gpu, "{}", d.reason);
        let d = select_from(DeviceChoice::Auto, &[]).unwrap();
        assert!(!d.is_gpu && !d.reason.is_empty());
        assert!(!select_from(DeviceChoice::Cpu, &lavapipe).unwrap().is_gpu);
    }

    #[cfg(not(feature = "gpu"))]
    #[test]
    fn gpu_without_a_backend_is_refused_with_the_fix() {
        let e = select_from(DeviceChoice::Gpu, &[]).unwrap_err().to_string();
        assert!(
            e.contains("`gpu` feature") && e.contains("cpu device"),
            "{e}"
        );
    }

    #[cfg(feature = "gpu")]
    #[test]
    fn gpu_prefers_hardware_then_software_and_says_which() {
        let both = [
            adapter("llvmpipe", "Cpu"),
            adapter("Radeon", "IntegratedGpu"),
            adapter("RTX", "DiscreteGpu"),
        ];
        let d = select_from(DeviceChoice::Auto, &both).unwrap();
        assert!(d.is_gpu && d.name.contains("RTX"), "{}", d.name);
        let d = select_from(DeviceChoice::Gpu, &both[..1]).unwrap();
        assert!(d.is_gpu && d.reason.contains("software"), "{}", d.reason);
        let e = select_from(DeviceChoice::Gpu, &[]).unwrap_err().to_string();
        assert!(e.contains("no GPU adapter"), "{e}");
    }
}
