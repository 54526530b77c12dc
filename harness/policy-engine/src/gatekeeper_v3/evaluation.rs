//! [`PolicyClient`]: templates and constraints by kind, reviews and audits (frameworks' client and
//! Rego driver, reference §1.2, §1.5, §1.9).
//!
//! A client is a snapshot: templates, constraints and the inventory are reference-counted, so a
//! clone costs a few pointer copies and a webhook hands one to every request. Writes go through
//! `&mut self` and never touch other clones.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use regorus::{Engine, Value};

use super::compiled_template::{CompiledTemplate, VIOLATION_RULE, compile};
use super::memo::{Memo, Results};
use super::{
    Constraint, ConstraintTemplate, GatekeeperError, Inventory, Review, Violation, enforcement_point, parameters_schema,
};
use crate::fast_path::parallel;

/// What a constraint needs evaluated for one review: its template and its actions there.
type Applicable<'a> = Option<(&'a Arc<CompiledTemplate>, Vec<String>)>;

/// A constraint with its parameters already converted for the engine.
#[derive(Debug)]
struct LoadedConstraint {
    constraint: Constraint,
    parameters: Option<Value>,
}

#[derive(Clone, Default)]
pub struct PolicyClient {
    /// Compiled templates by kind (`spec.crd.spec.names.kind`).
    templates: Arc<BTreeMap<String, Arc<CompiledTemplate>>>,
    /// Constraints by kind and name.
    constraints: Arc<BTreeMap<(String, String), Arc<LoadedConstraint>>>,
    inventory: Inventory,
    /// Engines of the templates that read `data.inventory`, holding this snapshot's inventory, by
    /// kind; built on first use and shared by the clones of this snapshot. Any write to templates
    /// or inventory starts a new cache, so a clone never sees another snapshot's data.
    with_inventory: Arc<Mutex<HashMap<String, Engine>>>,
    /// Results by constraint and [`super::memo::ReadSet`] key, for templates whose results depend
    /// only on what they read of `input`. Any write to templates or constraints starts a new memo.
    memo: Arc<Memo>,
}

impl std::fmt::Debug for PolicyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyClient")
            .field("templates", &self.templates.keys().collect::<Vec<_>>())
            .field("constraints", &self.constraints.keys().collect::<Vec<_>>())
            .field("inventory", &self.inventory)
            .finish()
    }
}

impl PolicyClient {
    pub fn new() -> PolicyClient {
        PolicyClient::default()
    }

    /// Compile and add (or replace) a template. A compile error leaves the client unchanged.
    /// Replacing a template with one of another kind drops the old kind's constraints.
    pub fn add_template(&mut self, template: ConstraintTemplate) -> Result<(), GatekeeperError> {
        let compiled = Arc::new(compile(&template)?);
        self.remove_template(&template.name);
        Arc::make_mut(&mut self.templates).insert(template.kind.clone(), compiled);
        self.with_inventory = Arc::default();
        self.memo = Arc::default();
        Ok(())
    }

    /// Remove a template and its constraints.
    pub fn remove_template(&mut self, name: &str) -> bool {
        let Some(kind) = self.templates.values().find(|t| t.template.name == name).map(|t| t.template.kind.clone())
        else {
            return false;
        };
        Arc::make_mut(&mut self.templates).remove(&kind);
        Arc::make_mut(&mut self.constraints).retain(|(k, _), _| *k != kind);
        self.with_inventory = Arc::default();
        self.memo = Arc::default();
        true
    }

    /// The template that defines `kind`, if loaded.
    pub fn template(&self, kind: &str) -> Option<&ConstraintTemplate> {
        self.templates.get(kind).map(|t| &t.template)
    }

    /// Add (or replace) a constraint; its kind must have a template and its parameters must fit
    /// the template's schema.
    pub fn add_constraint(&mut self, constraint: Constraint) -> Result<(), GatekeeperError> {
        let template = self.templates.get(&constraint.kind).ok_or_else(|| GatekeeperError::UnknownKind {
            file: constraint.source.clone(),
            constraint: constraint.name.clone(),
            kind: constraint.kind.clone(),
        })?;
        if let (Some(schema), Some(parameters)) = (&template.template.schema, &constraint.parameters) {
            parameters_schema::validate(schema, parameters, template.template.legacy_schema).map_err(
                |(path, expected)| GatekeeperError::Parameters {
                    file: constraint.source.clone(),
                    constraint: constraint.name.clone(),
                    path,
                    expected,
                },
            )?;
        }
        let parameters = constraint.parameters.as_ref().map(to_value);
        let key = (constraint.kind.clone(), constraint.name.clone());
        Arc::make_mut(&mut self.constraints).insert(key, Arc::new(LoadedConstraint { constraint, parameters }));
        self.memo = Arc::default();
        Ok(())
    }

    pub fn remove_constraint(&mut self, kind: &str, name: &str) -> bool {
        self.memo = Arc::default();
        Arc::make_mut(&mut self.constraints).remove(&(kind.to_string(), name.to_string())).is_some()
    }

    /// Every constraint, by kind and name.
    pub fn constraints(&self) -> impl Iterator<Item = &Constraint> {
        self.constraints.values().map(|c| &c.constraint)
    }

    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    pub fn inventory_mut(&mut self) -> &mut Inventory {
        self.with_inventory = Arc::default();
        &mut self.inventory
    }

    /// Load the inventory into the engines of the templates that read it now, instead of on the
    /// first evaluation that needs it. A server calls this before publishing a snapshot.
    pub fn prepare(&self) {
        for template in self.templates.values().filter(|t| t.reads_inventory) {
            drop(self.engine(template));
        }
    }

    /// Every violation of every matching constraint for one review, at an enforcement point
    /// ([`super::enforcement_point`]); results whose constraint does not act there are dropped.
    pub fn review(&self, review: &Review, point: &str) -> Result<Vec<Violation>, GatekeeperError> {
        let review = self.with_namespace(review);
        let (mut input, mut parts) = (None, HashMap::new());
        let mut engines = HashMap::new();
        let mut violations = Vec::new();
        for loaded in self.constraints.values() {
            let Some((template, actions)) = self.applies(loaded, &review, point, &mut violations)? else { continue };
            let results = self.results(template, loaded, &review, &mut input, &mut parts, &mut engines)?;
            push_violations(loaded, &results, &review, &actions, &mut violations);
        }
        Ok(violations)
    }

    /// Gatekeeper's audit over every inventory object (audit enforcement point), each reviewed as
    /// a bare object. Objects are split in chunks evaluated on every core; each worker reuses one
    /// engine per template.
    pub fn audit(&self) -> Result<Vec<Violation>, GatekeeperError> {
        self.audit_of(&self.inventory.objects())
    }

    /// The audit of `objects` (Kubernetes objects as JSON) instead of the inventory, which stays
    /// what referential templates read: Gatekeeper's audit lists the cluster's objects itself.
    pub fn audit_json(&self, objects: &[serde_json::Value]) -> Result<Vec<Violation>, GatekeeperError> {
        let objects: Vec<Value> = objects.iter().map(to_value).collect();
        self.audit_of(&objects)
    }

    fn audit_of(&self, objects: &[Value]) -> Result<Vec<Violation>, GatekeeperError> {
        const CHUNK: usize = 128;
        let chunks: Vec<&[Value]> = objects.chunks(CHUNK).collect();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut violations = Vec::new();
        for result in parallel::map(&chunks, threads, &|chunk| self.audit_objects(chunk)) {
            violations.extend(result?);
        }
        Ok(violations)
    }

    fn audit_objects(&self, objects: &[Value]) -> Result<Vec<Violation>, GatekeeperError> {
        let mut engines = HashMap::new();
        let mut violations = Vec::new();
        for object in objects {
            let json = serde_json::to_value(object)
                .map_err(|e| GatekeeperError::invalid("inventory", "object", format!("a JSON object: {e}")))?;
            let mut review = Review::from_object(json, "inventory")?;
            if let Some(ns) = review.resource.namespace.as_deref().and_then(|ns| self.inventory.namespace(ns)) {
                review.input["namespaceObject"] = ns.clone();
                review.namespace_object = Some(ns.clone());
            }
            let (mut input, mut parts) = (None, HashMap::new());
            for loaded in self.constraints.values() {
                let Some((template, actions)) =
                    self.applies(loaded, &review, enforcement_point::AUDIT, &mut violations)?
                else {
                    continue;
                };
                let results = self.results(template, loaded, &review, &mut input, &mut parts, &mut engines)?;
                push_violations(loaded, &results, &review, &actions, &mut violations);
            }
        }
        Ok(violations)
    }

    /// The results of one constraint for one review: from the memo when the template allows it and
    /// an equal review was seen, else evaluated (and remembered). `input` is the review converted
    /// for the engine, converted on first need; `parts` the review's serialized values by read path;
    /// `engines` holds the caller's engines by kind
    /// (an engine is reused across evaluations: each evaluation resets its state).
    fn results<'a>(
        &'a self,
        template: &'a CompiledTemplate,
        loaded: &LoadedConstraint,
        review: &Review,
        input: &mut Option<Value>,
        parts: &mut HashMap<&'a [String], String>,
        engines: &mut HashMap<String, Engine>,
    ) -> Result<Results, GatekeeperError> {
        let (kind, name) = (&loaded.constraint.kind, &loaded.constraint.name);
        let key = template.read_set.as_ref().map(|set| set.key(&review.input, parts));
        if let Some(found) = key.as_ref().and_then(|key| self.memo.get(kind, name, key)) {
            return Ok(found);
        }
        let input = input.get_or_insert_with(|| to_value(&review.input));
        let engine = engines.entry(kind.clone()).or_insert_with(|| self.engine(template));
        let results = Arc::new(evaluate(engine, template, loaded, input)?);
        if let Some(key) = key {
            self.memo.put(kind, name, key, results.clone());
        }
        Ok(results)
    }

    /// The template and the actions of `loaded` when it acts at `point` and matches the review.
    /// A match that cannot be decided (a `namespaceSelector` without the Namespace) is, as in
    /// Gatekeeper, a result of that constraint (pushed to `out`, with gator's wording), not an error
    /// of the whole review: the other constraints are still evaluated.
    fn applies(
        &self,
        loaded: &LoadedConstraint,
        review: &Review,
        point: &str,
        out: &mut Vec<Violation>,
    ) -> Result<Applicable<'_>, GatekeeperError> {
        let constraint = &loaded.constraint;
        let Some(template) = self.templates.get(&constraint.kind) else { return Ok(None) };
        let actions = constraint.actions_at(point);
        if actions.is_empty() {
            return Ok(None);
        }
        match constraint.matches(review) {
            Ok(true) => Ok(Some((template, actions))),
            Ok(false) => Ok(None),
            Err(GatekeeperError::Match { message, .. }) => {
                let msg = format!(
                    "unable to match constraints: error matching the requested object: {} :failed to run Match criteria: {message}",
                    review.resource.name
                );
                push_violations(loaded, &[(msg, serde_json::json!({}))], review, &actions, out);
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }

    /// The review with its Namespace object from the inventory, when it has none and one is synced.
    fn with_namespace<'a>(&self, review: &'a Review) -> Cow<'a, Review> {
        let synced = review.resource.namespace.as_deref().and_then(|ns| self.inventory.namespace(ns));
        match synced {
            Some(ns) if review.namespace_object.is_none() => {
                let mut owned = review.clone();
                owned.input["namespaceObject"] = ns.clone();
                owned.namespace_object = Some(ns.clone());
                Cow::Owned(owned)
            }
            _ => Cow::Borrowed(review),
        }
    }

    /// An engine ready to evaluate `template`: its compiled engine, or for templates that read the
    /// inventory, that engine with this snapshot's inventory (built once per snapshot).
    fn engine(&self, template: &CompiledTemplate) -> Engine {
        if !template.reads_inventory {
            return template.engine.clone();
        }
        let mut cache = self.with_inventory.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(template.template.kind.clone())
            .or_insert_with(|| {
                let mut engine = template.engine.clone();
                // Cannot conflict: the compiled engine holds no data.
                let _ = engine.add_data(self.inventory.data());
                // Any evaluation analyses the engine; clones then start analysed.
                let _ = engine.eval_query("true".to_string(), false);
                engine
            })
            .clone()
    }
}

/// Evaluate `data.template.violation` for one constraint: `(msg, details)` per result, `details`
/// `{}` when absent. `violation` is a set: identical results arrive once.
fn evaluate(
    engine: &mut Engine,
    template: &CompiledTemplate,
    loaded: &LoadedConstraint,
    review: &Value,
) -> Result<Vec<(String, serde_json::Value)>, GatekeeperError> {
    let mut input = Value::new_object();
    if let Ok(map) = input.as_object_mut() {
        map.insert(Value::from("review"), review.clone());
        if let Some(parameters) = &loaded.parameters {
            map.insert(Value::from("parameters"), parameters.clone());
        }
    }
    engine.set_input(input);
    let eval_error = |message: String| GatekeeperError::Eval {
        template: template.template.name.clone(),
        constraint: loaded.constraint.name.clone(),
        message,
    };
    let results = engine.eval_rule(VIOLATION_RULE.to_string()).map_err(|e| eval_error(format!("{e:#}")))?;
    let results = match &results {
        Value::Undefined => return Ok(vec![]),
        Value::Set(set) => set.iter().cloned().collect::<Vec<_>>(),
        other => return Err(eval_error(format!("violation is not a set: {other}"))),
    };
    let mut out = Vec::with_capacity(results.len());
    for result in results {
        let msg = match &result[&Value::from("msg")] {
            Value::String(s) => s.to_string(),
            Value::Undefined => String::new(),
            other => other.to_string(),
        };
        let details = match &result[&Value::from("details")] {
            Value::Undefined => serde_json::json!({}),
            d => serde_json::to_value(d).map_err(|e| eval_error(format!("details: {e}")))?,
        };
        out.push((msg, details));
    }
    Ok(out)
}

/// A [`Violation`] per result and action of `loaded`, about the reviewed object.
fn push_violations(
    loaded: &LoadedConstraint,
    results: &[(String, serde_json::Value)],
    about: &Review,
    actions: &[String],
    out: &mut Vec<Violation>,
) {
    for (msg, details) in results {
        for action in actions {
            out.push(Violation {
                constraint: loaded.constraint.name.clone(),
                kind: loaded.constraint.kind.clone(),
                enforcement_action: action.clone(),
                msg: msg.clone(),
                details: details.clone(),
                resource: about.resource.clone(),
            });
        }
    }
}

/// JSON to a regorus value by reference (the review stays with the caller).
fn to_value(json: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match json {
        J::Array(items) => Value::from(items.iter().map(to_value).collect::<Vec<_>>()),
        J::Object(map) => {
            let mut object = Value::new_object();
            if let Ok(m) = object.as_object_mut() {
                for (k, v) in map {
                    m.insert(Value::from(k.as_str()), to_value(v));
                }
            }
            object
        }
        scalar => Value::from(scalar.clone()),
    }
}
