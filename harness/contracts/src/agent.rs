//! The agent's trigger API (`docs/contracts.md` §6): `POST /trigger/<cycle>` runs a cycle now.
//! The agent serves it, the add-on lifecycle (and the harness through it) calls it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One of the agent's two loops. On the wire it is the lower-case name: the path segment of
/// `POST /trigger/<cycle>`, the `kind` of the agent's log lines and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cycle {
    /// Assignments from the dataplane to policy ConfigMaps.
    Refresh,
    /// The full scan of the webhook and the compliance report.
    Audit,
}

impl Cycle {
    /// Both, in the order the agent reports them.
    pub const ALL: [Cycle; 2] = [Cycle::Refresh, Cycle::Audit];

    /// The wire name: `refresh` or `audit`.
    pub fn as_str(self) -> &'static str {
        match self {
            Cycle::Refresh => "refresh",
            Cycle::Audit => "audit",
        }
    }

    /// The agent's route that runs this cycle now: `/trigger/refresh` or `/trigger/audit`.
    pub fn trigger_path(self) -> String {
        format!("/trigger/{}", self.as_str())
    }
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not `refresh` or `audit`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown cycle {0:?} (expected refresh or audit)")]
pub struct UnknownCycle(pub String);

impl FromStr for Cycle {
    type Err = UnknownCycle;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cycle::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| UnknownCycle(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_name_is_the_path_segment() {
        for cycle in Cycle::ALL {
            assert_eq!(serde_json::to_value(cycle).unwrap(), cycle.as_str());
            assert_eq!(cycle.as_str().parse::<Cycle>().unwrap(), cycle);
            assert_eq!(cycle.trigger_path(), format!("/trigger/{cycle}"));
        }
        assert_eq!(Cycle::Refresh.trigger_path(), "/trigger/refresh");
        assert!("Audit".parse::<Cycle>().is_err());
    }
}
