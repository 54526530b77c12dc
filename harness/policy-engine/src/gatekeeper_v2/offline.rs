//! `harness policy check`: evaluate manifests or an AdmissionReview against Rego files or an Azure
//! policy definition, offline, like `gator test` or `opa eval`. The command is a thin wrapper.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::{
    EvalError, ModuleError, PlaceholderError, PolicyEngine, ReviewError, Violation, admission_review_to_request,
    fill_placeholders, gatekeeper_v2::builtins, manifests,
};

/// What to check. Parameters are strings, as every 2019 parameter was.
#[derive(Debug, Clone, Default)]
pub struct CheckRequest {
    pub rego_files: Vec<PathBuf>,
    pub definition: Option<PathBuf>,
    /// `{{AzurePolicyID}}`. Defaults to the definition's id, else the Rego file's name.
    pub policy_id: Option<String>,
    /// `--param NAME=VALUE`: NAME is a definition parameter or a placeholder name.
    pub params: Vec<(String, String)>,
    pub existing: Vec<PathBuf>,
    pub object_file: PathBuf,
    /// Where `details.policy` file names are looked up first; then the built-in policies (compiled
    /// in), then the definition's directory.
    pub policies_dir: Option<PathBuf>,
}

/// The outcome, printed as `{"allowed":bool,"violations":[{"id","resource","message"}]}`.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    pub violations: Vec<Violation>,
}

impl CheckReport {
    pub fn allowed(&self) -> bool {
        self.violations.is_empty()
    }

    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "allowed": self.allowed(),
            "violations": self.violations.iter().map(Violation::flat).collect::<Vec<_>>(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot read {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("cannot parse {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("definition {path}: {message}")]
    Definition { path: PathBuf, message: String },
    #[error("no policy given: pass --rego FILE or --definition FILE")]
    NoPolicy,
    #[error("{path}: {error}")]
    Placeholder { path: PathBuf, error: PlaceholderError },
    #[error("policy does not compile: {0}")]
    Module(#[from] ModuleError),
    #[error("{path}: {error}")]
    Review { path: PathBuf, error: ReviewError },
    #[error("{0}")]
    Eval(#[from] EvalError),
    #[error("{path}: no object to check")]
    NoObject { path: PathBuf },
}

fn read(path: &Path) -> Result<String, CheckError> {
    std::fs::read_to_string(path).map_err(|error| CheckError::Read { path: path.to_path_buf(), error })
}

fn documents(path: &Path) -> Result<Vec<Value>, CheckError> {
    manifests::parse_documents(&read(path)?).map_err(|message| CheckError::Parse { path: path.to_path_buf(), message })
}

/// A Rego source with its default policy id and the placeholder values that apply to it.
struct PolicySource {
    path: PathBuf,
    rego: String,
    default_id: String,
    params: Map<String, Value>,
}

fn cli_params(req: &CheckRequest) -> Map<String, Value> {
    req.params.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()
}

/// Resolve a definition: its Rego file (by the URI's file name, in the policies dir or next to the
/// definition; never fetched) and its placeholder values (`details.policyParameters`, whose
/// `[parameters('x')]` expressions take `--param x=…`, else the parameter's `defaultValue`).
fn definition_source(path: &Path, req: &CheckRequest) -> Result<PolicySource, CheckError> {
    let bad = |message: String| CheckError::Definition { path: path.to_path_buf(), message };
    let text = read(path)?;
    let def: Value = serde_json::from_str(&text)
        .map_err(|e| CheckError::Parse { path: path.to_path_buf(), message: e.to_string() })?;
    let props = def.get("properties").unwrap_or(&def);
    let details = props.pointer("/policyRule/then/details").ok_or_else(|| bad("no policyRule.then.details".into()))?;
    let uri = details.get("policy").and_then(Value::as_str).ok_or_else(|| bad("no details.policy".into()))?;
    let file = uri
        .rsplit('/')
        .next()
        .filter(|f| !f.is_empty())
        .ok_or_else(|| bad(format!("policy URI {uri} has no file name")))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let beside = dir.join(file);
    let in_dir = req.policies_dir.as_ref().map(|d| d.join(file)).filter(|p| p.is_file());
    let found = |p: PathBuf| read(&p).map(|rego| (p, rego));
    let (rego_path, rego) = match (in_dir, builtins::by_file(file)) {
        (Some(p), _) => found(p)?,
        // Built into the binary, so an installed `harness` needs no source tree.
        (None, Some(builtin)) => (PathBuf::from(format!("built-in:{file}")), builtin.source.to_string()),
        (None, None) if beside.is_file() => found(beside)?,
        (None, None) => {
            let searched = req.policies_dir.as_ref().map(|d| format!("{}, ", d.display())).unwrap_or_default();
            return Err(bad(format!(
                "{file} (from {uri}) is not a built-in and was not found in {searched}{}",
                dir.display()
            )));
        }
    };

    let cli = cli_params(req);
    let mut params = cli.clone();
    for (placeholder, expr) in details.get("policyParameters").and_then(Value::as_object).into_iter().flatten() {
        let value = match expr.as_str().and_then(parameter_reference) {
            Some(name) => cli.get(name).or_else(|| props.pointer(&format!("/parameters/{name}/defaultValue"))).cloned(),
            None => Some(expr.clone()),
        };
        if let Some(value) = value {
            params.insert(placeholder.clone(), value);
        }
    }
    let default_id = def.get("id").and_then(Value::as_str).unwrap_or(file).to_string();
    Ok(PolicySource { rego, path: rego_path, default_id, params })
}

/// `x` from the ARM expression `[parameters('x')]`.
fn parameter_reference(expr: &str) -> Option<&str> {
    expr.trim().strip_prefix("[parameters('")?.strip_suffix("')]")
}

/// The AdmissionRequests in the object file: a full AdmissionReview, or one CREATE per manifest.
fn requests(path: &Path) -> Result<Vec<Value>, CheckError> {
    let docs = documents(path)?;
    let review_err = |error| CheckError::Review { path: path.to_path_buf(), error };
    let mut out = Vec::new();
    for doc in docs {
        if doc.get("kind").and_then(Value::as_str) == Some("AdmissionReview") {
            out.push(admission_review_to_request(&doc).map_err(review_err)?);
        } else {
            let request = manifests::create_request(&doc)
                .map_err(|message| CheckError::Parse { path: path.to_path_buf(), message })?;
            out.push(admission_review_to_request(&request).map_err(review_err)?);
        }
    }
    if out.is_empty() {
        return Err(CheckError::NoObject { path: path.to_path_buf() });
    }
    Ok(out)
}

/// Run the check. Evaluation errors are errors here (the webhook would fail open; a checker must say so).
pub fn check(req: &CheckRequest) -> Result<CheckReport, CheckError> {
    let mut sources = Vec::new();
    for path in &req.rego_files {
        let name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        sources.push(PolicySource { rego: read(path)?, path: path.clone(), default_id: name, params: cli_params(req) });
    }
    if let Some(def) = &req.definition {
        sources.push(definition_source(def, req)?);
    }
    if sources.is_empty() {
        return Err(CheckError::NoPolicy);
    }

    let mut engine = PolicyEngine::new();
    for (n, source) in sources.iter().enumerate() {
        let id = req.policy_id.clone().unwrap_or_else(|| source.default_id.clone());
        let rego = fill_placeholders(&source.rego, &id, &source.params)
            .map_err(|e| CheckError::Placeholder { path: source.path.clone(), error: e })?;
        engine.upsert_module(&format!("offline/{n}/{}", source.path.display()), &rego)?;
    }
    for path in &req.existing {
        for doc in documents(path)? {
            let (plural, ns, name) =
                manifests::placement(&doc).map_err(|message| CheckError::Parse { path: path.clone(), message })?;
            engine.upsert_object(&plural, ns.as_deref(), &name, doc);
        }
    }
    let mut violations = Vec::new();
    for request in requests(&req.object_file)? {
        violations.extend(engine.admit(&request)?);
    }
    Ok(CheckReport { violations })
}
