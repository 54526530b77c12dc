//! Runs the feature files with cucumber, for `harness run` and for `tests/bdd.rs` alike.
//!
//! Both entry points need the same things that cucumber does not do on its own:
//!
//! - **No argv parsing.** `harness run` owns its command line (clap), so [`run`] builds
//!   cucumber's CLI options programmatically. Users pass options through [`RunArgs`], which
//!   `harness run` can `#[command(flatten)]` and `tests/bdd.rs` parses from its own argv.
//! - **One filter.** A cucumber `--tags` would *replace* the `filter_run` closure; here the user's
//!   tag expression and the "no Docker engine, drop `@requires-docker`" rule are evaluated
//!   together in one closure, and the dropped scenarios are printed and reported as skipped.
//! - **Cleanup, pass or fail.** The World implements [`ScenarioHooks`]; its `teardown` runs in
//!   cucumber's `after` hook after every scenario, and an error there fails the scenario in every
//!   report (a cleanup failure that only shows in a log is a lie).
//! - **Reports.** `reports/junit.xml` and `reports/cucumber.json` are written by cucumber's
//!   writers during the run, `reports/index.html` from the JSON afterwards ([`crate::report`]).
//! - **Scenario counts for CI.** cucumber's summary counts steps in its stats API and prints a
//!   line CI cannot read; [`run`] returns [`RunSummary`] with scenario counts and prints
//!   `harness: N passed, N failed, N skipped` last. The caller sets the exit code.
//!
//! Undefined steps fail the scenario (unless it is tagged `@allow.skipped`, or
//! [`RunOptions::allow_undefined_steps`] is set): a typo in a step must not pass silently.

use std::{
    cell::RefCell,
    fmt,
    fs::{self, File},
    future::Future,
    io,
    path::PathBuf,
    rc::Rc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use cucumber::{
    World, WriterExt as _, cli,
    codegen::WorldInventory,
    event, gherkin,
    gherkin::tagexpr::TagOperation,
    tag::Ext as _,
    writer::{self, Coloring, Verbosity},
};
use futures::{FutureExt as _, future::LocalBoxFuture};

use crate::report::{self, Outcome, sources::Sources, timings::Timings};

/// Scenarios with this tag need a Docker engine (e.g. the k3s backend).
pub const REQUIRES_DOCKER: &str = "requires-docker";
/// With this tag an undefined step is a skip rather than a failure (cucumber's convention).
const ALLOW_SKIPPED: &str = "allow.skipped";
const NO_DOCKER: &str = "no Docker engine is available (the scenario is tagged @requires-docker)";

/// Default for [`RunOptions::concurrency`]: enough to overlap scenarios that wait on cycles,
/// few enough not to starve the shared control plane on a 2-core machine.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// What to run and where to put the reports.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// A `.feature` file or a directory searched recursively.
    pub features_dir: PathBuf,
    /// Created if missing; receives `junit.xml`, `cucumber.json` and `index.html`.
    pub reports_dir: PathBuf,
    /// A cucumber tag expression, e.g. `@denials and not @slow`.
    pub tags: Option<String>,
    /// Scenarios run at once; `@serial` scenarios always run alone.
    pub concurrency: usize,
    /// When false, `@requires-docker` scenarios are skipped with a printed reason.
    pub docker_available: bool,
    /// Scenarios carrying one of these tags (without `@`) cannot run here and are skipped, each
    /// tag with its reason, printed and reported (e.g. `local-cluster` on another backend).
    pub unavailable_tags: Vec<(String, String)>,
    /// Stop scheduling scenarios after the first failure.
    pub fail_fast: bool,
    /// Report steps without a definition as skipped instead of failed.
    pub allow_undefined_steps: bool,
    /// Run only this slice of the scenarios (for a CI matrix).
    pub shard: Option<Shard>,
    /// Feature paths in the reports are relative to this (the repository root).
    pub root: PathBuf,
}

/// `I/N`: the I-th of N deterministic slices of the scenarios, 1-based. A scenario belongs to
/// slice `hash(feature file name, scenario name, line) mod N`, so the slices do not depend on
/// the order cucumber finds the files in, on the machine, or on which other scenarios exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = || format!("invalid shard {s:?}: expected I/N with 1 <= I <= N, e.g. 2/4");
        let (i, n) = s.split_once('/').ok_or_else(usage)?;
        let (index, count) = (i.trim().parse().map_err(|_| usage())?, n.trim().parse().map_err(|_| usage())?);
        if index == 0 || count == 0 || index > count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether the scenario at `line` of `feature` is in this slice.
    pub fn contains(&self, feature: &gherkin::Feature, scenario: &gherkin::Scenario) -> bool {
        // FNV-1a: stable across Rust releases and platforms, unlike `DefaultHasher`.
        let file = feature.path.as_deref().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
        let key =
            format!("{}\n{}\n{}", file.unwrap_or_else(|| feature.name.clone()), scenario.name, scenario.position.line);
        let hash =
            key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        (hash % self.count as u64) as usize == self.index - 1
    }
}

impl RunOptions {
    /// Options with the defaults: no tag filter, [`DEFAULT_CONCURRENCY`], Docker available,
    /// undefined steps fail.
    pub fn new(features_dir: impl Into<PathBuf>, reports_dir: impl Into<PathBuf>) -> Self {
        let features_dir = features_dir.into();
        let root = features_dir.parent().map(PathBuf::from).unwrap_or_default();
        RunOptions {
            root,
            shard: None,
            features_dir,
            reports_dir: reports_dir.into(),
            tags: None,
            concurrency: DEFAULT_CONCURRENCY,
            docker_available: true,
            unavailable_tags: Vec::new(),
            fail_fast: false,
            allow_undefined_steps: false,
        }
    }
}

/// The user-facing run options, for `harness run` (flatten it) and `tests/bdd.rs`.
///
/// Each option also reads an environment variable, because under a plain `cargo test` the
/// arguments after `--` also reach the libtest targets, which reject them: use
/// `HARNESS_TAGS=@denials cargo test`, or `cargo test --test bdd -- --tags @denials`.
#[derive(Clone, Debug, Default, clap::Parser)]
#[command(name = "bdd", about = "Runs the harness scenarios")]
pub struct RunArgs {
    /// Run only scenarios matching this cucumber tag expression, e.g. "@denials and not @slow".
    #[arg(short = 't', long, env = "HARNESS_TAGS", value_name = "TAGEXPR")]
    pub tags: Option<String>,
    /// How many scenarios run at once (@serial scenarios always run alone).
    #[arg(short = 'c', long, env = "HARNESS_CONCURRENCY", value_name = "N")]
    pub concurrency: Option<usize>,
    /// Stop after the first failed scenario.
    #[arg(long, env = "HARNESS_FAIL_FAST")]
    pub fail_fast: bool,
    /// Run only slice I of N (e.g. 2/4), for spreading the suite over a CI matrix. The slices are
    /// deterministic and together hold every scenario exactly once.
    #[arg(long, env = "HARNESS_SHARD", value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Where to write junit.xml, cucumber.json and index.html [default: reports/ in the checkout].
    #[arg(long, env = "HARNESS_REPORTS_DIR", value_name = "DIR")]
    pub reports_dir: Option<PathBuf>,
}

impl RunArgs {
    /// Parses the process's argv and the `HARNESS_*` variables (for `tests/bdd.rs`).
    pub fn from_env() -> Self {
        <Self as clap::Parser>::parse()
    }

    /// Applies the options that were given on top of `opts`.
    pub fn apply(self, mut opts: RunOptions) -> RunOptions {
        opts.tags = self.tags.or(opts.tags);
        opts.concurrency = self.concurrency.unwrap_or(opts.concurrency);
        opts.fail_fast |= self.fail_fast;
        opts.shard = self.shard.or(opts.shard);
        opts.reports_dir = self.reports_dir.unwrap_or(opts.reports_dir);
        opts
    }
}

/// Per-scenario setup and cleanup, implemented by the World.
///
/// The runner owns cucumber's single `before`/`after` hook slots, so a World plugs its own
/// lifecycle in here. An `Err` from either method fails the scenario in the terminal output,
/// JUnit and HTML alike. Implement them as `async fn`.
pub trait ScenarioHooks {
    /// Runs before the scenario's first step (the World is already constructed). The feature and
    /// rule come along for their tags ([`all_tags`] merges them as cucumber does).
    fn setup(
        &mut self,
        _feature: &gherkin::Feature,
        _rule: Option<&gherkin::Rule>,
        _scenario: &gherkin::Scenario,
    ) -> impl Future<Output = anyhow::Result<()>> {
        async { Ok(()) }
    }

    /// Runs after the scenario, whether it passed, failed or was skipped part-way: tear down
    /// everything the scenario started. `outcome` lets a World keep or dump state on failure.
    fn teardown(&mut self, scenario: &gherkin::Scenario, outcome: Outcome) -> impl Future<Output = anyhow::Result<()>>;
}

/// Scenario counts of a finished run (dropped scenarios count as skipped) and its wall time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunSummary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub wall: Duration,
}

impl RunSummary {
    /// True when nothing failed: the caller exits 0.
    pub fn succeeded(&self) -> bool {
        self.failed == 0
    }
}

/// The line CI reads: `harness: N passed, N failed, N skipped`.
impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { passed, failed, skipped, .. } = self;
        write!(f, "harness: {passed} passed, {failed} failed, {skipped} skipped")
    }
}

/// Runs the features with World `W`, writes the reports, prints the summary line last.
///
/// Errors are for a run that could not happen or could not be reported (bad tag expression,
/// missing features, unwritable reports); failing scenarios are counted in the summary.
pub async fn run<W>(opts: RunOptions) -> anyhow::Result<RunSummary>
where
    W: World + WorldInventory + ScenarioHooks + fmt::Debug,
{
    let started = Instant::now();
    let tags = parse_tags(opts.tags.as_deref())?;
    if !opts.features_dir.exists() {
        bail!("no features at {}", opts.features_dir.display());
    }
    fs::create_dir_all(&opts.reports_dir).with_context(|| format!("creating {}", opts.reports_dir.display()))?;
    let create = |name| {
        let path = opts.reports_dir.join(name);
        File::create(&path).with_context(|| format!("creating {}", path.display()))
    };
    let (junit, json) = (create(report::JUNIT_XML)?, create(report::CUCUMBER_JSON)?);
    if !opts.docker_available {
        println!("harness: no Docker engine: scenarios tagged @{REQUIRES_DOCKER} will be skipped");
    }

    if let Some(shard) = opts.shard {
        println!("harness: shard {shard}: running only this slice of the scenarios");
    }
    let sources = Rc::new(RefCell::new(Sources::with_root(&opts.root)));
    let mut unavailable = opts.unavailable_tags.clone();
    if !opts.docker_available {
        unavailable.insert(0, (REQUIRES_DOCKER.to_string(), NO_DOCKER.to_string()));
    }
    let dropped = Rc::new(RefCell::new(Vec::new()));
    let filter = scenario_filter(tags, opts.shard, unavailable, Rc::clone(&sources), Rc::clone(&dropped));
    let allow_undefined = opts.allow_undefined_steps;
    let undefined_fails = move |f: &gherkin::Feature, r: Option<&gherkin::Rule>, s: &gherkin::Scenario| {
        !allow_undefined && !all_tags(f, r, s).any(|t| t == ALLOW_SKIPPED)
    };
    let writer = writer::Basic::raw(io::stdout(), Coloring::Auto, Verbosity::Default)
        .summarized()
        .tee::<W, _>(writer::JUnit::for_tee(junit, 0))
        .tee::<W, _>(writer::Json::for_tee(json))
        .tee::<W, _>(Timings::default().discard_stats_writes().discard_arbitrary_writes())
        .normalized::<W>();
    let cucumber = W::cucumber()
        .with_writer(writer)
        .fail_on_skipped_with(undefined_fails)
        .max_concurrent_scenarios(opts.concurrency.max(1))
        .before(before_hook::<W>)
        .after(after_hook::<W>)
        .with_cli(cli::Opts::<_, _, _, cli::Empty>::default());
    let cucumber = if opts.fail_fast { cucumber.fail_fast() } else { cucumber };
    // Dropping the writers closes junit.xml and cucumber.json before they are read back.
    drop(cucumber.filter_run(opts.features_dir.clone(), filter).await);

    let wall = started.elapsed();
    let sources = sources.borrow();
    let totals = report::finish(&opts.reports_dir, &sources, wall)?;
    let dropped = dropped.borrow();
    if !dropped.is_empty() {
        println!("harness: skipped {} scenario(s) that cannot run here:", dropped.len());
        dropped.iter().for_each(|(name, reason)| println!("  - {name}: {reason}"));
    }
    let summary = RunSummary {
        passed: totals.scenarios.passed,
        failed: totals.scenarios.failed,
        skipped: totals.scenarios.skipped,
        wall,
    };
    let dir = opts.reports_dir.display();
    println!("harness: reports in {dir}: {}, {}, {}", report::JUNIT_XML, report::CUCUMBER_JSON, report::INDEX_HTML);
    println!("harness: wall time {:.2} s", wall.as_secs_f64());
    println!("{summary}");
    Ok(summary)
}

fn parse_tags(tags: Option<&str>) -> anyhow::Result<Option<TagOperation>> {
    let tags = tags.map(str::trim).filter(|t| !t.is_empty());
    tags.map(|t| t.parse().map_err(|e| anyhow::anyhow!("invalid tag expression {t:?}: {e}"))).transpose()
}

/// Feature, rule and scenario tags together (cucumber merges them the same way), without `@`.
pub fn all_tags<'a>(
    feature: &'a gherkin::Feature,
    rule: Option<&'a gherkin::Rule>,
    scenario: &'a gherkin::Scenario,
) -> impl Iterator<Item = &'a str> + Clone {
    let rule_tags = rule.into_iter().flat_map(|r| &r.tags);
    feature.tags.iter().chain(rule_tags).chain(&scenario.tags).map(|t| t.trim_start_matches('@'))
}

/// The one `filter_run` closure: the user's tag expression, then the tags that cannot run here
/// (`@requires-docker` without Docker, `@local-cluster` on another backend). It also records the
/// Gherkin details the report needs, for the scenarios it keeps or drops, and the dropped ones'
/// names and reasons in `dropped`.
fn scenario_filter(
    tags: Option<TagOperation>,
    shard: Option<Shard>,
    unavailable: Vec<(String, String)>,
    sources: Rc<RefCell<Sources>>,
    dropped: Rc<RefCell<Vec<(String, String)>>>,
) -> impl Fn(&gherkin::Feature, Option<&gherkin::Rule>, &gherkin::Scenario) -> bool + 'static {
    move |feature, rule, scenario| {
        // Another shard's scenario is not skipped here: it runs there.
        if shard.is_some_and(|s| !s.contains(feature, scenario)) {
            return false;
        }
        let tags_here = all_tags(feature, rule, scenario);
        if tags.as_ref().is_some_and(|expr| !expr.eval(tags_here.clone())) {
            return false;
        }
        if let Some((_, reason)) = unavailable.iter().find(|(tag, _)| tags_here.clone().any(|t| t == tag)) {
            sources.borrow_mut().record_dropped(feature, rule, scenario, reason);
            dropped.borrow_mut().push((format!("{} › {}", feature.name, scenario.name), reason.clone()));
            return false;
        }
        sources.borrow_mut().record(feature, rule, scenario);
        true
    }
}

/// cucumber's `before` hook: the World's setup; an error fails the scenario.
fn before_hook<'a, W: ScenarioHooks>(
    feature: &'a gherkin::Feature,
    rule: Option<&'a gherkin::Rule>,
    scenario: &'a gherkin::Scenario,
    world: &'a mut W,
) -> LocalBoxFuture<'a, ()> {
    async move {
        if let Err(e) = world.setup(feature, rule, scenario).await {
            panic!("scenario setup failed: {e:#}");
        }
    }
    .boxed_local()
}

/// cucumber's `after` hook (five arguments in 0.23): the World's teardown, pass or fail. There
/// is no World to tear down when its constructor failed.
fn after_hook<'a, W: ScenarioHooks>(
    _feature: &'a gherkin::Feature,
    _rule: Option<&'a gherkin::Rule>,
    scenario: &'a gherkin::Scenario,
    finished: &'a event::ScenarioFinished,
    world: Option<&'a mut W>,
) -> LocalBoxFuture<'a, ()> {
    let outcome = match finished {
        event::ScenarioFinished::StepPassed => Outcome::Passed,
        event::ScenarioFinished::StepSkipped => Outcome::Skipped,
        event::ScenarioFinished::StepFailed(..) | event::ScenarioFinished::BeforeHookFailed(_) => Outcome::Failed,
    };
    async move {
        let Some(world) = world else { return };
        if let Err(e) = world.teardown(scenario, outcome).await {
            panic!("scenario teardown failed: {e:#}");
        }
    }
    .boxed_local()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_expressions_are_checked_up_front() {
        assert!(parse_tags(Some("@a and not @b")).unwrap().is_some());
        assert!(parse_tags(Some("  ")).unwrap().is_none());
        let err = parse_tags(Some("@a and and")).unwrap_err().to_string();
        assert!(err.contains("invalid tag expression"), "{err}");
    }

    #[test]
    fn args_override_only_what_was_given() {
        let base = RunOptions { tags: Some("@x".into()), concurrency: 3, ..RunOptions::new("f", "r") };
        let opts = RunArgs { concurrency: Some(1), ..RunArgs::default() }.apply(base);
        assert_eq!((opts.tags.as_deref(), opts.concurrency, opts.fail_fast), (Some("@x"), 1, false));
        let parsed = <RunArgs as clap::Parser>::try_parse_from(["bdd", "-t", "@a or @b", "--fail-fast"]);
        let opts = parsed.unwrap().apply(RunOptions::new("f", "r"));
        assert_eq!((opts.tags.as_deref(), opts.fail_fast), (Some("@a or @b"), true));
    }

    /// `harness run` embeds the same options in its own command line.
    #[test]
    fn run_args_flatten_into_another_command() {
        #[derive(clap::Parser)]
        struct HarnessRun {
            #[command(flatten)]
            run: RunArgs,
            #[arg(long)]
            cluster: Option<String>,
        }
        let cli = <HarnessRun as clap::Parser>::try_parse_from(["run", "-c", "2", "--cluster", "k3s"]);
        let cli = cli.unwrap();
        assert_eq!((cli.run.concurrency, cli.cluster.as_deref()), (Some(2), Some("k3s")));
    }

    #[test]
    fn shards_parse_and_say_what_is_wrong() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/3", "4/3", "1/0", "a/2", "3"] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(err.contains("expected I/N"), "{bad}: {err}");
        }
    }

    /// Every scenario lands in exactly one slice, and no slice of a realistic suite is empty.
    #[test]
    fn shards_partition_the_scenarios() {
        let text: String = std::iter::once("Feature: f\n".to_string())
            .chain((0..7).map(|s| format!("  Scenario: scenario {s}\n    Given a step\n")))
            .collect();
        let count = 4;
        let mut sizes = vec![0; count];
        for f in 0..10 {
            let mut feature = gherkin::Feature::parse(&text, gherkin::GherkinEnv::default()).unwrap();
            feature.path = Some(PathBuf::from(format!("/x/features/f{f}.feature")));
            for scenario in &feature.scenarios {
                let owners: Vec<usize> =
                    (1..=count).filter(|&index| Shard { index, count }.contains(&feature, scenario)).collect();
                assert_eq!(owners.len(), 1, "{f}/{}: {owners:?}", scenario.name);
                sizes[owners[0] - 1] += 1;
            }
        }
        assert_eq!(sizes.iter().sum::<usize>(), 70);
        assert!(sizes.iter().all(|&n| n >= 8), "{sizes:?}");
    }

    #[test]
    fn summary_line_is_what_ci_reads() {
        let s = RunSummary { passed: 14, failed: 1, skipped: 2, wall: Duration::ZERO };
        assert_eq!(s.to_string(), "harness: 14 passed, 1 failed, 2 skipped");
        assert!(!s.succeeded());
    }
}
