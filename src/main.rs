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
