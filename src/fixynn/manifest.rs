//! `OUTDIR/manifest.json`: what `nnopt fixynn` wrote and measured, and what
//! `nnopt fixynn simulate` reads back.

use nnopt_backends::fixed_frontend::ppa::{FrontendPpa, PpaConstants, SystemPpa};
use nnopt_backends::fixed_frontend::FixedLayer;
use nnopt_compiler::ir::{Layout, TensorType};
use nnopt_compiler::{Error, Result};
use nnopt_fixynn::SplitPoint;
use serde::{Deserialize, Serialize};
use std::path::Path;

use super::synth::{Synthesis, TRANSISTORS_PER_MM2, WATTS_PER_MM2};

/// The manifest's `format` value.
pub const FORMAT: &str = "nnopt-fixynn";
/// The manifest's version.
pub const VERSION: u32 = 1;

/// One side of the front-end: the model tensor's type and the stream's pixel shape.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StreamSide {
    pub dtype: String,
    /// The model tensor's shape (batch first, in `layout`).
    pub shape: Vec<usize>,
    pub layout: String,
    /// Per-tensor scale and zero point (absent for real values).
    pub scale: Option<f32>,
    pub zero_point: Option<i64>,
    /// Height, width, channels of one streamed image.
    pub pixels: [usize; 3],
}

impl StreamSide {
    pub fn of(ty: &TensorType, pixels: [usize; 3], layout: Layout) -> Self {
        let q = ty.quant.as_ref().filter(|q| q.scale.len() == 1);
        StreamSide {
            dtype: ty.dtype.to_string(),
            shape: ty.shape.clone(),
            layout: match layout {
                Layout::Nchw => "nchw",
                Layout::Nhwc => "nhwc",
            }
            .to_string(),
            scale: q.map(|q| q.scale[0]),
            zero_point: q.map(|q| q.zero_point[0]),
            pixels,
        }
    }
}

/// One hard-wired layer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerEntry {
    pub name: String,
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub pads: [usize; 4],
    pub groups: usize,
    pub input: [usize; 3],
    pub output: [usize; 3],
    pub weights: usize,
    pub nonzero_weights: usize,
}

impl LayerEntry {
    pub fn of(l: &FixedLayer) -> Self {
        LayerEntry {
            name: l.name.clone(),
            kernel: l.kernel,
            strides: l.strides,
            pads: l.pads,
            groups: l.groups,
            input: l.input,
            output: l.output,
            weights: l.weights.len(),
            nonzero_weights: l.nonzero_weights(),
        }
    }
}

/// A task's deployed back-end and its accuracies.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskEntry {
    pub name: String,
    pub classes: usize,
    pub test_rows: usize,
    /// The int8 back-end compiled for the NPU, relative to the directory.
    pub backend: String,
    /// Int8 accuracy of the fixed front-end + this back-end on the test rows.
    pub accuracy: f64,
    pub full_fine_tune_accuracy: f64,
    pub loss_points: f64,
}

/// Files relative to the directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Files {
    pub rtl: Vec<String>,
    pub testbench: String,
    /// Hex test vectors: two images and the interpreter's output pixels.
    pub vectors: Vec<String>,
    pub backends: Vec<String>,
}

/// Images the RTL was simulated on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskImages {
    pub task: String,
    pub images: usize,
}

/// The RTL simulated against the interpreter.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Verification {
    pub simulator: String,
    pub images: usize,
    pub per_task: Vec<TaskImages>,
    pub bit_exact_images: usize,
    pub bit_exact: bool,
    /// Valid and ready were dropped at pseudo-random cycles.
    pub stalls: bool,
    pub simulation_seconds: f64,
    pub seconds: f64,
}

/// Area, power and energy, by the analytic model and from synthesis.
#[derive(Clone, Debug, Serialize)]
pub struct PpaSection {
    /// All-programmable energy per inference ÷ fixed + programmable, at equal area
    /// (DeepFreeze's constants).
    pub energy_efficiency_ratio: f64,
    pub constants: PpaConstants,
    pub frontend: FrontendPpa,
    pub deepfreeze: SystemPpa,
    /// The same comparison with the front-end's area and power from Yosys.
    pub yosys: Option<SystemPpa>,
    pub synthesis: Option<Synthesis>,
    /// The programmable side priced by nnopt's NPU performance model instead.
    pub npu_preset: NpuComparison,
    pub assumptions: Vec<String>,
}

/// One task's energy per inference on the NPU preset (µJ): the whole int8 model, its
/// back-end, and the hard-wired front-end (DeepFreeze's model).
#[derive(Clone, Debug, Serialize)]
pub struct NpuTaskEnergy {
    pub task: String,
    pub all_programmable_uj: f64,
    pub backend_uj: f64,
    pub fixed_uj: f64,
    pub energy_efficiency_ratio: f64,
    /// The same with the whole model's and the back-end's energy predicted by the learned
    /// cost model (GraphSAGE), where it has learned the preset's energy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learned: Option<Box<NpuTaskEnergy>>,
}

impl NpuTaskEnergy {
    pub fn new(task: &str, all_programmable_uj: f64, backend_uj: f64, fixed_uj: f64) -> Self {
        let hybrid = backend_uj + fixed_uj;
        NpuTaskEnergy {
            task: task.to_string(),
            all_programmable_uj,
            backend_uj,
            fixed_uj,
            energy_efficiency_ratio: if hybrid > 0.0 {
                all_programmable_uj / hybrid
            } else {
                0.0
            },
            learned: None,
        }
    }
}

/// Fixed + programmable against the whole model on the NPU preset, per task.
#[derive(Clone, Debug, Serialize)]
pub struct NpuComparison {
    pub target: String,
    pub tasks: Vec<NpuTaskEnergy>,
    /// The mean of the tasks' ratios.
    pub energy_efficiency_ratio: f64,
    /// The mean of the ratios by the learned cost model, when it priced every task.
    pub learned_energy_efficiency_ratio: Option<f64>,
}

impl NpuComparison {
    pub fn new(target: String, tasks: Vec<NpuTaskEnergy>) -> Self {
        let ratio = tasks.iter().map(|t| t.energy_efficiency_ratio).sum::<f64>()
            / tasks.len().max(1) as f64;
        let learned: Option<Vec<f64>> = tasks
            .iter()
            .map(|t| t.learned.as_ref().map(|l| l.energy_efficiency_ratio))
            .collect();
        NpuComparison {
            target,
            energy_efficiency_ratio: ratio,
            learned_energy_efficiency_ratio: learned
                .filter(|l| !l.is_empty())
                .map(|l| l.iter().sum::<f64>() / l.len() as f64),
            tasks,
        }
    }
}

/// The manifest.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub source_model: String,
    /// The IR name of the front-end's output tensor in the source model.
    pub split_tensor: String,
    /// The quantized front-end alone, a file `nnopt run` takes; the RTL reproduces its
    /// outputs.
    pub frontend_model: String,
    pub frontend_input: StreamSide,
    /// The int8 stream the RTL takes, when the model quantizes real inputs first.
    pub frontend_stream_input: Option<StreamSide>,
    pub frontend_output: StreamSide,
    pub layers: Vec<LayerEntry>,
    pub top_module: String,
    pub files: Files,
    pub tasks: Vec<TaskEntry>,
    pub split_points: Vec<SplitPoint>,
    pub chosen_reason: String,
    pub ppa: PpaSection,
    pub verification: Option<Verification>,
    pub search_seconds: f64,
    pub generation_seconds: f64,
}

/// What `nnopt fixynn simulate` needs from a manifest.
#[derive(Clone, Debug, Deserialize)]
pub struct ManifestHead {
    pub format: String,
    pub version: u32,
    pub frontend_model: String,
    pub files: Files,
}

/// Reads the head of `dir/manifest.json`.
pub fn read_head(dir: &Path) -> Result<ManifestHead> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::new(format!(
            "cannot read: {e} (is this an `nnopt fixynn` output directory?)"
        ))
        .in_file(&path)
    })?;
    let head: ManifestHead = serde_json::from_str(&text)
        .map_err(|e| Error::new(format!("not an nnopt fixynn manifest: {e}")).in_file(&path))?;
    if head.format != FORMAT || head.version != VERSION {
        return Err(Error::new(format!(
            "format {} version {}: this nnopt reads {FORMAT} version {VERSION}",
            head.format, head.version
        ))
        .in_file(&path));
    }
    for f in head
        .files
        .rtl
        .iter()
        .chain([&head.files.testbench, &head.frontend_model])
    {
        if Path::new(f).is_absolute() || f.split(['/', '\\']).any(|c| c == "..") {
            return Err(Error::new(format!("names '{f}' outside its directory")).in_file(&path));
        }
    }
    Ok(head)
}

/// Every assumption behind the PPA figures, for the report and the manifest.
pub fn assumptions() -> Vec<String> {
    vec![
        "DeepFreeze's analytic model (model_ppa.py, FixyNN's 16 nm figures): a hard-wired \
         multiplier costs 2.05e-7 mm² and 5.79e-8 W per bit of (activation bits × weight bits) \
         for each non-zero weight; buffered activation bits cost 1.62e-6 mm² and 4.0e-7 W each; \
         clock 810 MHz."
            .to_string(),
        "The front-end's buffer is this design's: the line buffer and window of each layer, \
         ((kh − 1) × padded width + kw) pixels × input channels × 8 bits (DeepFreeze counts \
         width × kh × kw × 8 bits, without channels)."
            .to_string(),
        "Layers run in parallel, one padded input pixel a cycle: an image takes the slowest \
         layer's padded input pixels in cycles; energy per inference = power × that time."
            .to_string(),
        "The programmable accelerator is DeepFreeze's: 3.3 mm², 0.891 W, 4 TOPS (2 operations a \
         MAC), so 0.223 pJ per operation at any size; the all-programmable system has the \
         hybrid's total area (scaling throughput and power together), so its energy per \
         inference is that energy per operation times all the network's operations."
            .to_string(),
        "The hybrid runs the back-end's MACs (the mean over tasks) on the programmable \
         accelerator and the front-end in silicon; weights and activations off-chip are not \
         counted for either system."
            .to_string(),
        format!(
            "Yosys figures: `synth; stat -tech cmos` of each layer module, the transistor counts summed, over \
             {:.2} MTr/mm² (TSMC 16 nm FinFET logic density) for area, times \
             {WATTS_PER_MM2:.3} W/mm² (DeepFreeze's multiplier power per area) for power; the \
             synthesized design includes the requantization (a multiplier per channel, up to 31 bits), \
             which DeepFreeze's bit-slice rescaling does not have.",
            TRANSISTORS_PER_MM2 / 1e6
        ),
        "NPU preset figures: nnopt's performance model of the preset (`nnopt compile --json`'s \
         energy_uj: MACs, on-chip SRAM traffic and off-chip weight reads at the preset's \
         Horowitz 45 nm constants) for the whole int8 model and for each back-end; the fixed \
         front-end's energy is DeepFreeze's. The preset fetches weights from off-chip memory \
         every inference, which a hard-wired front-end never does."
            .to_string(),
    ]
}
