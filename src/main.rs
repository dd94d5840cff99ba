//! The `nnopt` command.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let result = std::panic::catch_unwind(cli::main);
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("error: internal error (a bug in nnopt); please report it with the model");
            ExitCode::from(101)
        }
    }
}
