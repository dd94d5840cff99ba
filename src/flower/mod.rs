//! Federated learning on a localhost Flower deployment (`nnopt fl flower`): a SuperLink
//! and one SuperNode per client on 127.0.0.1, nnopt's Flower app (`app.rs`) run on them
//! with `flwr run`, and the run's figures read back as a [`Simulation`]. Every process
//! started is stopped on every exit path ([`processes::ProcessTree`]).

mod app;
mod processes;

use crate::{Error, Result};
use app::{toml_string, write_app};
use nnopt_train::fl::simulate::{SimulateOptions, Simulation};
use nnopt_train::server::ServerOptimizer;
use processes::{catch_interrupts, free_port, interrupted, tail, wait_for_port, ProcessTree};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How to run Flower.
#[derive(Clone, Debug)]
pub struct FlowerOptions {
    /// A Python interpreter with `flwr` and nnopt's bindings (`nnopt`) installed; Flower's
    /// commands are taken from its directory.
    pub python: PathBuf,
    /// Keep the deployment's logs here (else they go with the scratch directory).
    pub log_dir: Option<PathBuf>,
    /// The whole run's limit.
    pub timeout: Duration,
}

/// The bin directory of `python`, checked to have Flower and nnopt's bindings.
fn probe(python: &Path) -> Result<PathBuf> {
    let script = "import importlib.util, os, sys\n\
        missing = [m for m in ('flwr', 'nnopt') if importlib.util.find_spec(m) is None]\n\
        print(os.path.dirname(sys.executable))\n\
        print(' and '.join(missing) or '-')";
    let out = Command::new(python)
        .args(["-c", script])
        .output()
        .map_err(|e| {
            Error::new(format!(
            "cannot run Python '{}' ({e}): give one with Flower and nnopt's bindings with --python",
            python.display()
        ))
        })?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    match text.lines().collect::<Vec<_>>().as_slice() {
        [bin, "-"] if out.status.success() => Ok(PathBuf::from(bin)),
        [_, missing] if out.status.success() => Err(Error::new(format!(
            "Python '{}' lacks {missing}: install Flower with `pip install flwr==1.42.0` and \
             nnopt's bindings with `pip install ./python` from nnopt's repository (or point \
             --python at an environment that has both, such as .venv-flower)",
            python.display()
        ))),
        _ => Err(Error::new(format!(
            "Python '{}' did not run: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}

/// The app's run configuration for `opts` (keys of `examples/flower/pyproject.toml`).
fn run_config(program: &Path, data: &Path, opts: &SimulateOptions, output: &Path) -> String {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (optimizer, lr, momentum) = match opts.server_optimizer {
        ServerOptimizer::FedAvg => ("fedavg", -1.0, -1.0),
        ServerOptimizer::FedAvgM {
            learning_rate,
            momentum,
        } => ("fedavgm", learning_rate as f64, momentum as f64),
        ServerOptimizer::FedAdam {
            learning_rate,
            beta1,
            ..
        } => ("fedadam", learning_rate as f64, beta1 as f64),
    };
    let non_iid = match opts.partition {
        nnopt_train::fl::partition::Partition::Iid => String::new(),
        p => p.to_string(),
    };
    let mut t = String::new();
    let s = |p: &Path| toml_string(&abs(p).to_string_lossy());
    let _ = writeln!(t, "program = {}", s(program));
    let _ = writeln!(t, "data = {}", s(data));
    let _ = writeln!(t, "clients = {}", opts.clients);
    let _ = writeln!(t, "rounds = {}", opts.rounds);
    let _ = writeln!(t, "local-epochs = {}", opts.local_epochs);
    let _ = writeln!(t, "non-iid = {}", toml_string(&non_iid));
    let _ = writeln!(t, "server-optimizer = {}", toml_string(optimizer));
    let _ = writeln!(t, "server-learning-rate = {lr:?}");
    let _ = writeln!(t, "server-momentum = {momentum:?}");
    let _ = writeln!(t, "precision = {}", toml_string(opts.precision.name()));
    let _ = writeln!(t, "messages = {}", toml_string(opts.messages.name()));
    let _ = writeln!(t, "seed = {}", opts.seed as i64);
    let _ = writeln!(t, "target-accuracy = {:?}", opts.target_accuracy);
    let _ = writeln!(t, "output = {}", s(output));
    t
}

/// Runs the federation `opts` of `program` on `data` on a fresh localhost Flower
/// deployment; `progress` gets each finished round's number as Flower logs it.
pub fn run_on_flower(
    program: &Path,
    data: &Path,
    opts: &SimulateOptions,
    flower: &FlowerOptions,
    mut progress: impl FnMut(usize),
) -> Result<Simulation> {
    if opts.seed > i64::MAX as u64 {
        return Err(Error::new(
            "Flower's run configuration holds seeds up to 2^63 - 1",
        ));
    }
    let bin = probe(&flower.python)?;
    let scratch = tempfile::Builder::new()
        .prefix("nnopt-flower")
        .tempdir()
        .map_err(|e| Error::new(format!("cannot create a scratch directory: {e}")))?;
    let dir = scratch.path();
    let logs = match &flower.log_dir {
        Some(d) => {
            std::fs::create_dir_all(d)
                .map_err(|e| Error::new(format!("cannot create {}: {e}", d.display())))?;
            d.clone()
        }
        None => dir.join("logs"),
    };
    std::fs::create_dir_all(&logs).map_err(|e| Error::new(e.to_string()))?;
    let app = dir.join("app");
    write_app(&app)?;
    let home = dir.join("flwr-home");
    std::fs::create_dir_all(&home).map_err(|e| Error::new(e.to_string()))?;
    let link = free_port()?;
    std::fs::write(
        home.join("config.toml"),
        format!(
            "[superlink]\ndefault = \"nnopt\"\n\n[superlink.nnopt]\naddress = \"127.0.0.1:{link}\"\ninsecure = true\n"
        ),
    )
    .map_err(|e| Error::new(e.to_string()))?;
    let output = dir.join("result.json");
    let config = dir.join("run.toml");
    std::fs::write(&config, run_config(program, data, opts, &output))
        .map_err(|e| Error::new(e.to_string()))?;

    let env = [("FLWR_HOME", home.as_path())];
    catch_interrupts();
    let tool = |name: &str| bin.join(name);
    let mut tree = ProcessTree::new();
    let start = Instant::now();
    let superlink_log = logs.join("superlink.log");
    tree.spawn(
        &tool("flower-superlink"),
        &[
            "--insecure".into(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            link.to_string(),
            "--disable-runtime-dependency-installation".into(),
        ],
        &bin,
        &env,
        &superlink_log,
    )?;
    if !wait_for_port(link, Duration::from_secs(60)) || interrupted() {
        return Err(Error::new(format!(
            "the SuperLink did not start on 127.0.0.1:{link}:\n{}",
            tail(&superlink_log, 20)
        )));
    }
    for i in 0..opts.clients {
        let port = free_port()?;
        tree.spawn(
            &tool("flower-supernode"),
            &[
                "--insecure".into(),
                "--superlink".into(),
                format!("127.0.0.1:{link}"),
                "--node-config".into(),
                format!("partition-id={i}"),
                "--host".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port.to_string(),
            ],
            &bin,
            &env,
            &logs.join(format!("supernode-{i}.log")),
        )?;
        if !wait_for_port(port, Duration::from_secs(60)) || interrupted() {
            return Err(Error::new(format!(
                "SuperNode {i} did not start on 127.0.0.1:{port}:\n{}",
                tail(&logs.join(format!("supernode-{i}.log")), 20)
            )));
        }
    }
    let exposed = tree.listening_beyond_loopback();
    if !exposed.is_empty() {
        return Err(Error::new(format!(
            "a Flower process listens beyond 127.0.0.1 (pid address): {}",
            exposed.join(", ")
        )));
    }
    let run_log = logs.join("run.log");
    let run = tree.spawn(
        &tool("flwr"),
        &[
            "run".into(),
            app.to_string_lossy().into_owned(),
            "nnopt".into(),
            "--stream".into(),
            "--run-config".into(),
            config.to_string_lossy().into_owned(),
        ],
        &bin,
        &env,
        &run_log,
    );
    run?;
    let run_index = opts.clients + 1;
    let mut reported = 0;
    let status = loop {
        if let Some(status) = tree.exited(run_index) {
            break status;
        }
        let done = finished_rounds(&run_log);
        while reported < done {
            reported += 1;
            progress(reported);
        }
        if interrupted() {
            return Err(Error::new("interrupted: the Flower deployment was stopped"));
        }
        if start.elapsed() > flower.timeout {
            return Err(Error::new(format!(
                "the Flower run did not finish in {} s:\n{}",
                flower.timeout.as_secs(),
                tail(&run_log, 20)
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let exposed = tree.listening_beyond_loopback();
    tree.stop(Duration::from_secs(3));
    if !exposed.is_empty() {
        return Err(Error::new(format!(
            "a Flower process listened beyond 127.0.0.1 (pid address): {}",
            exposed.join(", ")
        )));
    }
    let text = std::fs::read_to_string(&output).map_err(|_| {
        Error::new(format!(
            "the Flower run ({status}) wrote no result; its log ends:\n{}",
            tail(&run_log, 30)
        ))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| Error::new(format!("the Flower app's result does not parse: {e}")))
}

/// Rounds the run's log reports finished (Flower logs `[ROUND k/R]` when round k starts;
/// the last round is finished once the strategy reports its results).
fn finished_rounds(log: &Path) -> usize {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let started = text.matches("[ROUND ").count();
    let finished = text.contains("Strategy execution finished");
    if finished {
        started
    } else {
        started.saturating_sub(1)
    }
}
