//! Error types inside the library. The CLI maps them to exit codes: bad input is 2.

use thiserror::Error;

/// Errors raised by detbench's library code.
#[derive(Debug, Error)]
pub enum DetError {
    /// The user's input (a flag, a file, a size, a shape) is wrong: exit code 2.
    #[error("{0}")]
    Input(String),
    /// Reading or writing a file failed: what was being done, and the system's error, kept
    /// whole so its kind (not found, permission, ...) survives.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Turning a result into a format (JSON, XML) failed.
    #[error("{context}: {source}")]
    Encode {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
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
    /// A file-system error, with what was being done (e.g. "cannot write out.json").
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        DetError::Io {
            context: context.into(),
            source,
        }
    }
    /// A serialisation error, with what was being written.
    pub fn encode(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        DetError::Encode {
            context: context.into(),
            source: source.into(),
        }
    }
    /// The kind of the underlying I/O error, where the error came from the file system.
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            DetError::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn io_errors_keep_their_kind_and_source() {
        let e = DetError::io(
            "cannot write out.json",
            std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied"),
        );
        assert_eq!(e.io_kind(), Some(std::io::ErrorKind::PermissionDenied));
        assert_eq!(e.to_string(), "cannot write out.json: denied");
        assert!(e.source().is_some());
        assert_eq!(DetError::input("bad").io_kind(), None);
    }
}
