//! The harness library: what the `harness` binary and the cucumber scenarios (`tests/bdd.rs`) share.
//!
//! - [`az`]: a built-in translator from `az` command lines to the ARM calls the real CLI makes;
//! - [`addon_lifecycle`]: installs and removes the add-on in a cluster (azure-sim's `AddonController`);
//! - [`world`]: the cucumber World, its resources and the step library;
//! - [`runner`]: runs the feature files with reports; [`report`]: JUnit and the HTML living documentation.

pub mod addon_lifecycle;
pub mod az;
pub mod report;
pub mod runner;
pub mod world;
