//! The `nnopt` command.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing to a closed pipe would be an error; the default
    // action ends the process quietly when a reader such as `head` stops reading.
    #[cfg(unix)]
    // SAFETY: called first thing on the main thread, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    report_stdout_failures();
    let result = std::panic::catch_unwind(cli::main);
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            nnopt::diagnostics::error(&e);
            ExitCode::FAILURE
        }
        Err(_) => {
            nnopt::diagnostics::error(&nnopt::Error::new(
                "internal error (a bug in nnopt); please report it with the model",
            ));
            ExitCode::from(101)
        }
    }
}

/// `println!` panics when stdout fails (a full disk, `/dev/full`, an I/O error; a closed
/// pipe ends the process through SIGPIPE first). Such a failure is the environment's,
/// not a bug: it becomes a clear error and exit status 1.
fn report_stdout_failures() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied());
        if let Some(why) = message.and_then(|m| m.strip_prefix("failed printing to stdout: ")) {
            nnopt::diagnostics::error(&nnopt::Error::new(format!("cannot write to stdout: {why}")));
            std::process::exit(1);
        }
        default(info);
    }));
}
