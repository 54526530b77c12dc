//! Load-time rewrites that make regorus read template Rego as OPA does (reference §2, D1–D4). Each
//! divergence, with the policy that shows it and OPA's and regorus' measured outputs, is written up
//! in `docs/regorus-divergences/`.
//!
//! Every rewrite works on tokens (`crate::rego::tokens`), so strings, raw strings and comments are
//! never touched, and each one only fires on its own shape: a module without those shapes comes
//! back byte for byte. The result is idempotent. The rewrites are, in order:
//! * D1 (`layout_fixes`): `p[x] { A } { B }` → `p[x] { A } p[x] { B }`;
//! * D2 (`layout_fixes`): a `;` before a query line that starts with `(`;
//! * D4 (`negation`): `not f(input.x)` → `__compat_local0__ := input.x; not f(__compat_local0__)`;
//! * D3 (`sprintf`): `sprintf(F, A)` → `sprintf(__compat_sprintf_format(F, A), A)` unless `F` and
//!   `A` are literals that agree.
//!
//! D5 (builtin errors are undefined, not fatal) is an engine setting and D6 (`re_match`, `any`, `all`)
//! are extensions: [`register_extensions`] adds those and the `sprintf` helper D3 needs.
//!
//! Only the Gatekeeper v3 engine uses this module; the 2019 engine keeps its own normalisation.

mod bodies;
mod layout_fixes;
mod negation;
mod sprintf;

use crate::rego::tokens::Code;
use bodies::Layout;

/// Rewrite `source` (one module) so regorus gives OPA's results. Idempotent.
pub fn normalize(source: &str) -> String {
    let mut text = once(source.to_string(), layout_fixes::split_multi_bodies);
    text = once(text, layout_fixes::separate_paren_lines);
    text = until_stable(text, negation::hoist_negated_operands);
    until_stable(text, |code, _| sprintf::wrap_formats(code))
}

/// Add the extensions template Rego needs on regorus (`re_match`, `any`, `all` and the `sprintf`
/// format helper of D3) to `engine`. Call once per engine, before evaluating.
pub fn register_extensions(engine: &mut regorus::Engine) -> anyhow::Result<()> {
    crate::rego::extensions::register(engine)
}

type Pass = fn(&Code, &Layout) -> Option<String>;

fn once(text: String, pass: Pass) -> String {
    let code = Code::new(&text);
    let layout = bodies::layout(&code);
    pass(&code, &layout).unwrap_or(text)
}

/// Passes that handle nested occurrences one level per run; a few runs reach any real nesting.
fn until_stable(mut text: String, pass: impl Fn(&Code, &Layout) -> Option<String>) -> String {
    for _ in 0..8 {
        let code = Code::new(&text);
        let layout = bodies::layout(&code);
        match pass(&code, &layout) {
            Some(next) => text = next,
            None => break,
        }
    }
    text
}
