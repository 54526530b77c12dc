//! Typed failures of a simulated `az` command, and how each one reaches the user: the exit code and
//! the stderr text the 2019 CLI would have produced for the same kind of failure.

use std::fmt;

/// Why a command failed. Each variant maps to one of the CLI's failure channels (argparse usage
/// errors, `CLIError`, ARM `CloudError`, an unexpected exception), so scenarios can assert on the
/// exit code and the message the way they would against the real CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AzError {
    /// Bad command line (unknown flag, missing argument): argparse exits 2 with
    /// `az <command>: error: <message>`.
    Usage { command: String, message: String },
    /// A command or add-on this harness does not simulate (exit 2).
    NotSimulated(String),
    /// A client-side validation error (`CLIError`): `ERROR: <message>`, exit 1.
    Cli(String),
    /// An ARM error response (or a failed long-running operation), with the ARM error code carried
    /// through so scenarios can assert it: `ERROR: (<Code>) <message>`, exit 1.
    Arm { status: u16, code: String, message: String },
    /// The server could not be reached or answered something that is not ARM.
    Transport(String),
    /// An unhandled exception in the real CLI (e.g. `KeyError: 'azure-policy'` without aks-preview):
    /// printed as a Python traceback, exit 1.
    Crash { message: String, traceback: Vec<String> },
}

pub type AzResult<T> = Result<T, AzError>;

impl AzError {
    pub fn usage(command: &str, message: impl Into<String>) -> Self {
        AzError::Usage { command: command.to_string(), message: message.into() }
    }

    pub fn cli(message: impl Into<String>) -> Self {
        AzError::Cli(message.into())
    }

    /// The process exit code the CLI used for this kind of failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            AzError::Usage { .. } | AzError::NotSimulated(_) => 2,
            _ => 1,
        }
    }

    /// The ARM error code, if this is an ARM error.
    pub fn arm_code(&self) -> Option<&str> {
        match self {
            AzError::Arm { code, .. } => Some(code),
            _ => None,
        }
    }

    /// What goes to stderr (without the trailing newline).
    pub fn stderr(&self) -> String {
        match self {
            AzError::Usage { command, message } => format!("az {command}: error: {message}"),
            AzError::NotSimulated(message) => message.clone(),
            AzError::Cli(message) | AzError::Transport(message) => format!("ERROR: {message}"),
            AzError::Arm { code, message, .. } => format!("ERROR: ({code}) {message}"),
            AzError::Crash { message, traceback } => {
                let mut lines = vec![
                    "The command failed with an unexpected error. Here is the traceback:".to_string(),
                    String::new(),
                    message.clone(),
                    "Traceback (most recent call last):".to_string(),
                ];
                lines.extend(traceback.iter().cloned());
                lines.push(String::new());
                lines.push("To open an issue, please run: 'az feedback'".to_string());
                lines.join("\n")
            }
        }
    }
}

impl fmt::Display for AzError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.stderr())
    }
}

impl std::error::Error for AzError {}
