//! Error types inside the library. The CLI maps them to exit codes: bad input is 2.

use thiserror::Error;

/// Errors raised by detbench's library code.
#[derive(Debug, Error)]
pub enum DetError {
    /// The user's input (a flag, a file, a size, a shape) is wrong: exit code 2.
    #[error("{0}")]
    Input(String),
    /// Reading or writing a file failed.
    #[error("{0}")]
    Io(String),
    /// A backend failed while running (driver error, lost device...).
    #[error("{0}")]
    Backend(String),
}

impl DetError {
    pub fn input(msg: impl Into<String>) -> Self {
        DetError::Input(msg.into())
    }
    pub fn backend(msg: impl Into<String>) -> Self {
        DetError::Backend(msg.into())
    }
}

/// Why one case of the matrix did not produce a result.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum OpError {
    /// The device lacks a feature this variant needs; the string names it.
    #[error("{0}")]
    Unsupported(String),
    /// The case is not valid for this input (e.g. fixed-point overflow, too-large values).
    #[error("{0}")]
    Failed(String),
    /// The input is not valid for the op at all (exit 2 when asked for explicitly).
    #[error("{0}")]
    BadInput(String),
}

impl From<DetError> for OpError {
    fn from(e: DetError) -> Self {
        match e {
            DetError::Input(m) => OpError::BadInput(m),
            other => OpError::Failed(other.to_string()),
        }
    }
}

/// Exit status of a command that ran to the end (main maps it to the process exit code).
/// It lives here, below both the CLI and `check`, so that neither imports the other.
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 1: a check found a regression.
    Regression,
    /// Exit 130 (the shell's code for SIGINT): interrupted, a partial report was written.
    Interrupted,
}
