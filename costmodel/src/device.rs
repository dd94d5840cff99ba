//! The devices the predictor answers for, and which of its outputs give each figure:
//! Arm Ethos-U configurations as Vela estimates them, nnopt's `npu-256` as its analytic
//! model estimates it, and this machine's CPU as LiteRT (XNNPACK, one thread) measures it.

/// One device.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Device {
    pub name: &'static str,
    pub source: Source,
    /// The clock that turns cycles into time (Vela's default system configurations:
    /// Ethos-U55 at 500 MHz, Ethos-U65 at 1 GHz; nnopt's presets at 500 MHz).
    pub clock_hz: Option<f64>,
    /// The most SRAM the device's configuration has, when that caps the figure (Vela's
    /// default memory mode for Ethos-U65, `Dedicated_Sram_384KB`, caches the arena in
    /// 384 KiB of SRAM).
    pub sram_cap_bytes: Option<f64>,
}

/// Where a device's labels come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Vela,
    Npu,
    Litert,
}

/// A figure the predictor may have for a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    Cycles,
    SramBytes,
    OffChipBytes,
    EnergyMicrojoules,
    LatencyMs,
}

/// The devices, as `nnopt predict --target` and `--cost learned:TARGET` name them.
pub const DEVICES: &[Device] = &[
    Device {
        name: "ethos-u55-128",
        source: Source::Vela,
        clock_hz: Some(500e6),
        sram_cap_bytes: None,
    },
    Device {
        name: "ethos-u55-256",
        source: Source::Vela,
        clock_hz: Some(500e6),
        sram_cap_bytes: None,
    },
    Device {
        name: "ethos-u65-256",
        source: Source::Vela,
        clock_hz: Some(1e9),
        sram_cap_bytes: Some(384.0 * 1024.0),
    },
    Device {
        name: "npu-256",
        source: Source::Npu,
        clock_hz: Some(500e6),
        sram_cap_bytes: None,
    },
    Device {
        name: "cpu",
        source: Source::Litert,
        clock_hz: None,
        sram_cap_bytes: None,
    },
];

impl Device {
    /// The device called `name`, or an error listing the devices.
    pub fn named(name: &str) -> nnopt_compiler::Result<Device> {
        DEVICES
            .iter()
            .copied()
            .find(|d| d.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = DEVICES.iter().map(|d| d.name).collect();
                nnopt_compiler::Error::new(format!(
                    "unknown cost-model target '{name}': the targets are {}",
                    names.join(", ")
                ))
            })
    }

    /// The predictor output holding `figure` for this device, if it is learned at all.
    pub fn target(&self, figure: Figure) -> Option<String> {
        let name = self.name;
        match (self.source, figure) {
            (Source::Vela, Figure::Cycles) => Some(format!("vela:{name}:cycles")),
            (Source::Vela, Figure::SramBytes) => Some(format!("vela:{name}:sram_bytes")),
            (Source::Vela, Figure::OffChipBytes) => Some(format!("vela:{name}:off_chip_bytes")),
            (Source::Npu, Figure::Cycles) => Some(format!("npu:{name}:cycles")),
            (Source::Npu, Figure::SramBytes) => Some(format!("npu:{name}:arena_bytes")),
            (Source::Npu, Figure::EnergyMicrojoules) => Some(format!("npu:{name}:energy_uj")),
            (Source::Litert, Figure::LatencyMs) => Some("litert:xnnpack:latency_ms".into()),
            _ => None,
        }
    }

    /// The largest value the predictor output `target` can take, if some device's
    /// configuration caps it.
    pub fn cap_of(target: &str) -> Option<f64> {
        DEVICES.iter().find_map(|d| {
            d.sram_cap_bytes
                .filter(|_| d.target(Figure::SramBytes).as_deref() == Some(target))
        })
    }

    /// The output that ranks graphs for this device: cycles, or latency for the CPU.
    pub fn cost_target(&self) -> String {
        self.target(Figure::Cycles)
            .or_else(|| self.target(Figure::LatencyMs))
            .expect("every device has cycles or a latency")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_name_their_outputs() {
        let u55 = Device::named("ethos-u55-256").unwrap();
        assert_eq!(u55.cost_target(), "vela:ethos-u55-256:cycles");
        assert_eq!(u55.target(Figure::EnergyMicrojoules), None);
        assert_eq!(
            Device::named("cpu").unwrap().cost_target(),
            "litert:xnnpack:latency_ms"
        );
        assert_eq!(
            Device::cap_of("vela:ethos-u65-256:sram_bytes"),
            Some(393_216.0)
        );
        assert_eq!(Device::cap_of("vela:ethos-u55-256:sram_bytes"), None);
        let e = Device::named("tpu").unwrap_err().to_string();
        assert!(e.contains("ethos-u55-128") && e.contains("cpu"), "{e}");
    }
}
