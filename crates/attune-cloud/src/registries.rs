//! The solutions registries a server matches against, one per OS id (`device.OS.id`), as GPII
//! keeps them, each with the order its file lists the solutions in: answers list solutions in
//! that order (see [`attune_model::answer`]).

use std::collections::HashMap;
use std::sync::Arc;

use attune_model::answer::solution_order;
use attune_model::registry::SolutionsRegistry;
use attune_model::ModelError;

/// One OS's registry and the order of its solutions.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub solutions: Arc<SolutionsRegistry>,
    /// Solution ids in the registry's order; empty when unknown (then answers are sorted).
    pub order: Vec<String>,
}

impl Registry {
    /// Parses a registry's text (JSON5), remembering its order. `what` names it in errors.
    pub fn from_text(text: &str, what: &str) -> Result<Registry, ModelError> {
        let solutions = SolutionsRegistry::from_json5_str_named(text, what)?;
        let order = solution_order(text, what)?;
        Ok(Registry {
            solutions: Arc::new(solutions),
            order,
        })
    }

    /// Parses a registry file's bytes (size, UTF-8 and JSON5 checked as
    /// [`SolutionsRegistry::from_bytes_named`] does), remembering its order.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Registry, ModelError> {
        let solutions = SolutionsRegistry::from_bytes_named(bytes, what)?;
        // The bytes were just read as UTF-8 text; a BOM is skipped by `solution_order`.
        let text = String::from_utf8_lossy(bytes);
        let order = solution_order(&text, what)?;
        Ok(Registry {
            solutions: Arc::new(solutions),
            order,
        })
    }
}

/// Registries per OS id.
#[derive(Debug, Clone, Default)]
pub struct Registries(HashMap<String, Registry>);

impl Registries {
    pub fn insert(&mut self, os: impl Into<String>, registry: Registry) {
        self.0.insert(os.into(), registry);
    }

    pub fn get(&self, os: &str) -> Option<&Registry> {
        self.0.get(os)
    }

    /// The bundled Linux registry, checked, in its file's order.
    pub fn bundled() -> Result<Registries, ModelError> {
        let solutions = attune_model::bundled::linux_registry()?;
        let order = match attune_model::bundled::linux_registry_text() {
            Some(text) => solution_order(text, attune_model::bundled::LINUX_REGISTRY_NAME)?,
            None => Vec::new(),
        };
        let mut r = Registries::default();
        r.insert(
            "linux",
            Registry {
                solutions: Arc::new(solutions),
                order,
            },
        );
        Ok(r)
    }
}

/// Registries parsed elsewhere, whose order is not known: their answers list solutions sorted.
impl From<HashMap<String, Arc<SolutionsRegistry>>> for Registries {
    fn from(m: HashMap<String, Arc<SolutionsRegistry>>) -> Self {
        Registries(
            m.into_iter()
                .map(|(os, solutions)| {
                    (
                        os,
                        Registry {
                            solutions,
                            order: Vec::new(),
                        },
                    )
                })
                .collect(),
        )
    }
}
