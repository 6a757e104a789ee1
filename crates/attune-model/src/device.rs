//! The device report: what the device reporter found installed on this machine, in the shape the
//! GPII cloud expects in `GET /{key}/settings/{device}` (URL-encoded JSON).

use serde::{Deserialize, Serialize};

/// `{"OS":{"id":"linux","version":"6.1"},"solutions":[{"id":"org.gnome.desktop.interface"}]}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DeviceReport {
    #[serde(rename = "OS", default)]
    pub os: OsInfo,
    #[serde(default)]
    pub solutions: Vec<InstalledSolution>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsInfo {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl Default for OsInfo {
    fn default() -> Self {
        OsInfo {
            id: "linux".to_owned(),
            version: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledSolution {
    pub id: String,
}

impl DeviceReport {
    /// A Linux report naming these solutions, sorted and without duplicates.
    pub fn linux<I, S>(solutions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut ids: Vec<String> = solutions.into_iter().map(Into::into).collect();
        ids.sort();
        ids.dedup();
        DeviceReport {
            os: OsInfo::default(),
            solutions: ids.into_iter().map(|id| InstalledSolution { id }).collect(),
        }
    }

    pub fn has(&self, id: &str) -> bool {
        self.solutions.iter().any(|s| s.id == id)
    }
}
