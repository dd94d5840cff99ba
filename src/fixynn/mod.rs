//! `nnopt fixynn` end to end: the split search ([`nnopt_fixynn::partition`]), then the
//! output directory: the int8 front-end model, its Verilog (`rtl/`) and testbench
//! (`sim/`), each task's back-end compiled for the NPU (`backends/`), the RTL simulated
//! on every task's test images against the interpreter, Yosys synthesis, and
//! `manifest.json` tying them with the PPA comparison.

pub mod manifest;
pub mod simulate;
pub mod synth;

use crate::compile::compile_npu;
use crate::compress::npu_options;
use crate::output::write_atomically;
use manifest::{
    Files, Manifest, NpuComparison, NpuTaskEnergy, PpaSection, StreamSide, TaskEntry, Verification,
};
use nnopt_backends::fixed_frontend::ppa::{compare, frontend_ppa};
use nnopt_backends::fixed_frontend::{generate, output_pixels, testbench, FixedFrontend, TOP};
use nnopt_compiler::interp;
use nnopt_compiler::ir::text::{print_graph, PrintOptions};
use nnopt_compiler::ir::Graph;
use nnopt_compiler::{Error, Result};
use nnopt_costmodel::device::Device;
use nnopt_costmodel::predictor::Predictor;
use nnopt_fixynn::split::join;
use nnopt_fixynn::tasks::{load_task, Task, TaskSource};
use nnopt_fixynn::transfer::graph_input_shape;
use nnopt_fixynn::{partition, PartitionOptions};
use nnopt_passes::with_batch;
use nnopt_udc::Progress;
use simulate::{hex_lines, simulate, Simulator};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The front-end model's file name in the output directory.
pub const FRONTEND_MODEL: &str = "frontend.nnir";

/// What `nnopt fixynn` is asked for.
#[derive(Clone, Debug)]
pub struct FixynnRequest {
    pub tasks: Vec<TaskSource>,
    pub partition: PartitionOptions,
    /// The simulator checking the RTL on the tasks' test images (`None`: no check).
    pub simulator: Option<Simulator>,
    /// Test images per task the RTL is checked on (0: all).
    pub verify_rows: usize,
    /// Run Yosys.
    pub synthesize: bool,
}

/// Writes the Verilog of `fe` into `dir`: the design in `rtl/`, the testbench in `sim/`.
/// Returns the paths written, relative to `dir`.
pub fn write_rtl(dir: &Path, fe: &FixedFrontend) -> Result<Vec<String>> {
    let mut written = Vec::new();
    for (sub, files) in [
        ("rtl", generate(fe)),
        ("sim", vec![("fe_tb.v".to_string(), testbench(fe))]),
    ] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d)
            .map_err(|e| Error::new(format!("cannot create: {e}")).in_file(&d))?;
        for (name, text) in files {
            write_atomically(&d.join(&name), text.as_bytes())?;
            written.push(format!("{sub}/{name}"));
        }
    }
    Ok(written)
}

/// Loads a float model and applies the default pipeline.
pub fn load_float(model: &Path) -> Result<Graph> {
    let mut g = crate::load_model(model)?;
    crate::optimize(&mut g, None, &Default::default()).map_err(|e| e.in_file(model))?;
    if nnopt_passes::quantize_int8::is_quantized(&g) {
        return Err(Error::new(
            "fixynn needs a float model (it trains back-ends and quantizes them itself); this \
             one is already quantized",
        )
        .in_file(model));
    }
    Ok(g)
}

/// Runs the whole flow on `model` and writes `out_dir` (replacing an earlier fixynn
/// output there; never half-written: it is built beside and renamed).
pub fn fixynn(
    model: &Path,
    out_dir: &Path,
    req: &FixynnRequest,
    progress: &Progress,
) -> Result<Manifest> {
    let start = Instant::now();
    check_output_dir(out_dir)?;
    let g = load_float(model)?;
    let input = graph_input_shape(&g)?;
    let tasks = req
        .tasks
        .iter()
        .map(|t| load_task(t, &input))
        .collect::<Result<Vec<_>>>()?;
    let part = partition(&g, &tasks, &req.partition, progress).map_err(|e| e.in_file(model))?;
    let search_seconds = start.elapsed().as_secs_f64();
    let fe = FixedFrontend::from_graph(&part.frontend)?;
    let staging = staging_dir(out_dir)?;
    let result = (|| {
        let gen_start = Instant::now();
        let frontend_text = print_graph(&part.frontend, &PrintOptions::default());
        write_atomically(&staging.join(FRONTEND_MODEL), frontend_text.as_bytes())?;
        let rtl_files = write_rtl(&staging, &fe)?;
        let generation_seconds = gen_start.elapsed().as_secs_f64();
        let vectors = write_vectors(&staging, &part.frontend, &fe, &tasks[0], &input)?;
        let backends_dir = staging.join("backends");
        std::fs::create_dir_all(&backends_dir)
            .map_err(|e| Error::new(format!("cannot create: {e}")).in_file(&backends_dir))?;
        let mut entries = Vec::new();
        let analytic = frontend_ppa(&fe, &req.partition.ppa);
        let fixed_uj = analytic.joules_per_inference * 1e6;
        let mut npu_tasks = Vec::new();
        let predictor = crate::predict::shipped_predictor()?;
        let device = Device::named(&npu_options()?.target.name)?;
        for (i, (t, b)) in tasks.iter().zip(&part.backends).enumerate() {
            let file = format!("backends/{i}_{}.npub", sanitize(&t.name));
            let compiled = compile_npu(b.clone(), &npu_options()?)?;
            write_atomically(&staging.join(&file), &compiled.binary)?;
            let whole = compile_npu(join(&part.frontend, b)?, &npu_options()?)?;
            let mut energy = NpuTaskEnergy::new(
                &t.name,
                whole.estimate.energy_uj,
                compiled.estimate.energy_uj,
                fixed_uj,
            );
            energy.learned = match (
                learned_energy(&predictor, &device, &whole.graph)?,
                learned_energy(&predictor, &device, &compiled.graph)?,
            ) {
                (Some(all), Some(back)) => {
                    Some(Box::new(NpuTaskEnergy::new(&t.name, all, back, fixed_uj)))
                }
                _ => None,
            };
            npu_tasks.push(energy);
            let at = &part.points[part.chosen].tasks[i];
            entries.push(TaskEntry {
                name: t.name.clone(),
                classes: t.data.classes,
                test_rows: t.data.test_rows.len(),
                backend: file,
                accuracy: at.accuracy,
                full_fine_tune_accuracy: part.full[i].accuracy,
                loss_points: at.loss_points,
            });
        }
        let verification = match req.simulator {
            Some(sim) => Some(verify(
                &staging,
                &part.frontend,
                &fe,
                &tasks,
                &input,
                sim,
                req.verify_rows,
            )?),
            None => None,
        };
        let synthesis = if req.synthesize {
            // The top module only wires the layers together.
            let layers: Vec<(PathBuf, String)> = (0..fe.layers.len())
                .map(|i| {
                    (
                        staging.join(format!("rtl/fe_layer{i}.v")),
                        format!("fe_layer{i}"),
                    )
                })
                .collect();
            let modules: Vec<(&PathBuf, &str)> =
                layers.iter().map(|(f, m)| (f, m.as_str())).collect();
            Some(synth::synthesize(&modules)?)
        } else {
            None
        };
        let point = &part.points[part.chosen];
        let yosys = synthesis.as_ref().map(|s| {
            compare(
                s.area_mm2,
                s.power_w * analytic.seconds_per_inference,
                analytic.seconds_per_inference,
                point.ppa.frontend_macs,
                point.ppa.backend_macs,
                &req.partition.ppa,
            )
        });
        let manifest = Manifest {
            format: manifest::FORMAT.to_string(),
            version: manifest::VERSION,
            source_model: model.display().to_string(),
            split_tensor: point.split.clone(),
            frontend_model: FRONTEND_MODEL.to_string(),
            frontend_input: StreamSide::of(&fe.input.ty, fe.input_shape(), fe.input.layout),
            frontend_stream_input: fe
                .input
                .quantize
                .as_ref()
                .map(|(_, t)| StreamSide::of(t, fe.input_shape(), fe.input.layout)),
            frontend_output: StreamSide::of(&fe.output, fe.output_shape(), fe.input.layout),
            layers: fe.layers.iter().map(manifest::LayerEntry::of).collect(),
            top_module: TOP.to_string(),
            files: Files {
                rtl: rtl_files
                    .iter()
                    .filter(|f| f.starts_with("rtl/"))
                    .cloned()
                    .collect(),
                testbench: "sim/fe_tb.v".to_string(),
                vectors,
                backends: entries.iter().map(|e| e.backend.clone()).collect(),
            },
            tasks: entries,
            split_points: part.points.clone(),
            chosen_reason: part.reason.clone(),
            ppa: PpaSection {
                energy_efficiency_ratio: point.ppa.energy_efficiency_ratio,
                constants: req.partition.ppa.clone(),
                frontend: analytic,
                deepfreeze: point.ppa.clone(),
                yosys,
                synthesis,
                npu_preset: NpuComparison::new(npu_options()?.target.name.clone(), npu_tasks),
                assumptions: manifest::assumptions(),
            },
            verification,
            search_seconds,
            generation_seconds,
        };
        let json =
            serde_json::to_string_pretty(&manifest).map_err(|e| Error::new(e.to_string()))?;
        write_atomically(&staging.join("manifest.json"), json.as_bytes())?;
        Ok(manifest)
    })();
    let manifest = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    replace_dir(&staging, out_dir)?;
    Ok(manifest)
}

/// The shipped learned cost model's energy per inference (µJ) of an int8 graph on
/// `device`, where it has learned that figure.
fn learned_energy(predictor: &Predictor, device: &Device, g: &Graph) -> Result<Option<f64>> {
    let form = crate::predict::quantized_form(g, "fixynn")?;
    Ok(crate::predict::predict(predictor, &form.features, device)
        .ok()
        .and_then(|p| p.energy_uj))
}

/// A file-name-safe form of a task name.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Refuses an existing output directory that is not an earlier fixynn output.
fn check_output_dir(out: &Path) -> Result<()> {
    if out.exists() {
        let is_ours = out.join("manifest.json").is_file();
        let empty = std::fs::read_dir(out)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !out.is_dir() || !(is_ours || empty) {
            return Err(Error::new(
                "exists and is not an nnopt fixynn output directory (no manifest.json): refusing \
                 to replace it",
            )
            .in_file(out));
        }
    }
    Ok(())
}

/// A fresh directory beside `out` to build in.
fn staging_dir(out: &Path) -> Result<PathBuf> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .ok_or_else(|| Error::new("not a directory path").in_file(out))?;
    std::fs::create_dir_all(parent)
        .map_err(|e| Error::new(format!("cannot create: {e}")).in_file(parent))?;
    let staging = parent.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir(&staging)
        .map_err(|e| Error::new(format!("cannot create: {e}")).in_file(&staging))?;
    Ok(staging)
}

/// Moves the built directory to `out`, replacing an earlier output.
fn replace_dir(staging: &Path, out: &Path) -> Result<()> {
    let fail = |e: std::io::Error| Error::new(format!("cannot write: {e}")).in_file(out);
    if out.exists() {
        let old = staging.with_extension("old");
        std::fs::rename(out, &old).map_err(fail)?;
        std::fs::rename(staging, out).map_err(fail)?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(staging, out).map_err(fail)?;
    }
    Ok(())
}

/// Test vectors for running the testbench by hand: two test images of the first task and
/// the interpreter's output pixels for them.
fn write_vectors(
    dir: &Path,
    front: &Graph,
    fe: &FixedFrontend,
    task: &Task,
    input: &[usize],
) -> Result<Vec<String>> {
    let rows: Vec<usize> = task.data.test_rows.iter().copied().take(2).collect();
    let x = task.data.samples.batch(&rows, input)?.0;
    let expected = interp::run(&with_batch(front, rows.len())?, std::slice::from_ref(&x))?;
    let (pixels, _) = nnopt_backends::fixed_frontend::to_pixels(fe, &x)?;
    let out = output_pixels(fe, &expected[0])?;
    let files = [
        ("sim/input.hex", hex_lines(&pixels, fe.input_shape()[2])),
        ("sim/expected.hex", hex_lines(&out, fe.output_shape()[2])),
    ];
    for (name, text) in &files {
        write_atomically(&dir.join(name), text.as_bytes())?;
    }
    Ok(files.iter().map(|f| f.0.to_string()).collect())
}

/// Simulates the RTL on the test images of every task (at most `max_rows` each; 0: all)
/// in one run and compares each image's output with the interpreter's.
fn verify(
    dir: &Path,
    front: &Graph,
    fe: &FixedFrontend,
    tasks: &[Task],
    input: &[usize],
    sim: Simulator,
    max_rows: usize,
) -> Result<Verification> {
    let start = Instant::now();
    let mut images = Vec::new();
    let mut per_task = Vec::new();
    for t in tasks {
        let rows: Vec<usize> = match max_rows {
            0 => t.data.test_rows.clone(),
            n => t.data.test_rows.iter().copied().take(n).collect(),
        };
        per_task.push((t.name.clone(), rows.len()));
        for chunk in rows.chunks(256) {
            images.push(t.data.samples.batch(chunk, input)?.0);
        }
    }
    let x = crate::batch::concat(&images)?;
    let n = x.shape()[0];
    let expected = crate::batch::run_batched(front, std::slice::from_ref(&x))?.remove(0);
    let sim_start = Instant::now();
    let got = simulate(
        &dir.join("rtl"),
        &dir.join("sim/fe_tb.v"),
        fe,
        &x,
        sim,
        true,
    )?;
    let simulation_seconds = sim_start.elapsed().as_secs_f64();
    let per_image = expected.len() / n.max(1);
    let (e, g) = (expected.to_f64_vec(), got.to_f64_vec());
    let mismatched = e
        .chunks(per_image)
        .zip(g.chunks(per_image))
        .filter(|(a, b)| a != b)
        .count();
    let v = Verification {
        simulator: sim.name().to_string(),
        images: n,
        per_task: per_task
            .into_iter()
            .map(|(task, images)| manifest::TaskImages { task, images })
            .collect(),
        bit_exact_images: n - mismatched,
        bit_exact: mismatched == 0,
        stalls: true,
        simulation_seconds,
        seconds: start.elapsed().as_secs_f64(),
    };
    if mismatched > 0 {
        return Err(Error::new(format!(
            "the RTL disagrees with the interpreter on {mismatched} of {n} images: a generator bug"
        ))
        .in_file(dir));
    }
    Ok(v)
}
