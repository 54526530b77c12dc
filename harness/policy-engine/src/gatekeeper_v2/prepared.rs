//! Preparing a snapshot: each module's engines analysed, plus what depends on the replicated data
//! (the precomputed `matches` set, join indexes, the whole tree for modules that read it).
//!
//! A webhook publishes a snapshot after every burst of watch events, so this runs often. A module
//! is prepared again only when its compiled form or the kinds it reads changed since the previous
//! snapshot ([`ReplicatedData::generation`]); otherwise its prepared form is shared. A pod update
//! thus leaves the ingress index alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use regorus::{Engine, Value};

use crate::fast_path::analysis::DataNeeds;
use crate::fast_path::joins::JoinIndex;
use crate::fast_path::lookups;
use crate::gatekeeper_v2::modules::{CompiledModule, Variant, analyse_now};
use crate::gatekeeper_v2::replicated_data::ReplicatedData;

/// A module's engine, analysed and ready: evaluating a clone costs no setup. Modules that read data
/// only through `matches` of known kinds hold no data and get their slice with each query; the others
/// hold the whole replicated tree.
pub(crate) struct PreparedModule {
    pub id: String,
    pub engine: Engine,
    pub audit: Option<Indexed>,
    pub admission: Option<Indexed>,
    /// The admission variant still looks up `matches` (other objects).
    pub admission_reads_matches: bool,
    /// `matches` over the module's kinds, for admission variants that still read it.
    pub replicated_matches: Option<Value>,
    pub needs: DataNeeds,
    /// What this was prepared from, to decide whether the next snapshot can reuse it.
    compiled: Arc<CompiledModule>,
    data_generation: u64,
}

/// A variant's engine with the indexes of its joins over this snapshot, if it has joins. An index
/// that failed to build is kept as the error, reported by every evaluation of the module (without
/// the index the variant would silently find nothing).
pub(crate) struct Indexed {
    pub engine: Engine,
    pub joins: Option<Result<JoinIndex, String>>,
}

impl Indexed {
    /// `built`: an index another variant built with the same key rules, to share.
    fn prepare(
        variant: &Variant,
        matches: &mut dyn FnMut() -> anyhow::Result<Value>,
        built: Option<Result<JoinIndex, String>>,
    ) -> Self {
        let engine = variant.engine.clone();
        let joins = (variant.joins > 0).then(|| {
            built.unwrap_or_else(|| {
                matches()
                    .and_then(|m| JoinIndex::build(&engine, variant.joins, &m))
                    .map_err(|e| format!("join index: {e:#}"))
            })
        });
        Indexed { engine, joins }
    }

    pub fn index(&self) -> Result<Option<&JoinIndex>, String> {
        self.joins.as_ref().map(|j| j.as_ref().map_err(Clone::clone)).transpose()
    }
}

/// The generation of the data `module`'s preparation reads (0 when it reads none).
fn data_generation(data: &ReplicatedData, module: &CompiledModule) -> u64 {
    match &module.needs {
        _ if !module.prepared_from_data() => 0,
        DataNeeds::Everything => data.generation(None),
        DataNeeds::Kinds { kinds, .. } => data.generation(Some(kinds)),
    }
}

fn prepare(id: &str, module: &Arc<CompiledModule>, data: &ReplicatedData) -> PreparedModule {
    let mut engine = module.engine.clone();
    if module.needs == DataNeeds::Everything {
        // Cannot conflict: the module engine holds no data of its own.
        let _ = engine.add_data(data.root().clone());
        analyse_now(&mut engine);
    }
    // `matches` over the module's kinds, computed at most once, by the library itself.
    let mut computed: Option<Value> = None;
    let mut matches = || -> anyhow::Result<Value> {
        if let (None, Some(admission), DataNeeds::Kinds { kinds, .. }) = (&computed, &module.admission, &module.needs) {
            computed = Some(lookups::matches_over(&admission.engine, data.slice(kinds))?);
        }
        computed.clone().ok_or_else(|| anyhow::anyhow!("module reads the whole tree"))
    };
    let audit = module.audit.as_ref().map(|v| Indexed::prepare(v, &mut matches, None));
    let admission = module.admission.as_ref().map(|v| {
        // The same key rules over the same tuples give the same index: build it once.
        let same = module
            .audit
            .as_ref()
            .zip(audit.as_ref())
            .filter(|(a, _)| a.keys_module == v.keys_module)
            .and_then(|(_, a)| a.joins.clone());
        Indexed::prepare(v, &mut matches, same)
    });
    let replicated_matches = if module.admission_reads_matches { matches().ok() } else { None };
    PreparedModule {
        id: id.to_string(),
        engine,
        audit,
        admission,
        admission_reads_matches: module.admission_reads_matches,
        replicated_matches,
        needs: module.needs.clone(),
        compiled: module.clone(),
        data_generation: data_generation(data, module),
    }
}

/// Every module prepared over `data`, reusing the entries of `previous` whose compiled module and
/// data generation are unchanged.
pub(crate) fn prepare_all(
    modules: &BTreeMap<String, Arc<CompiledModule>>,
    data: &ReplicatedData,
    previous: Option<&[Arc<PreparedModule>]>,
) -> Arc<[Arc<PreparedModule>]> {
    let reusable: BTreeMap<&str, &Arc<PreparedModule>> =
        previous.unwrap_or_default().iter().map(|p| (p.id.as_str(), p)).collect();
    modules
        .iter()
        .map(|(id, module)| match reusable.get(id.as_str()) {
            Some(p) if Arc::ptr_eq(&p.compiled, module) && p.data_generation == data_generation(data, module) => {
                Arc::clone(p)
            }
            _ => Arc::new(prepare(id, module, data)),
        })
        .collect()
}
