//! `nodehttp-conformance`: a spec-driven conformance suite for
//! implementations of Node.js's `node:http`.
//!
//! Fixtures (`fixtures/`, Markdown data) are parsed by [`fixture`], played
//! against an implementation through an adapter process ([`adapter`],
//! [`protocol`], specified in `conformance/PROTOCOL.md`) by [`exec`] and
//! [`run`], compared by [`matching`], and reported by [`report`].
//! The default target is the reference, through its adapter (crate
//! `nodehttp-adapter`, feature `reference`, on by default); nothing else
//! here depends on the reference. [`matrix`] runs the suite against several
//! targets, for a JSON and an HTML compatibility report. [`bundle`] is
//! what the binary carries (the fixtures, the spec, the Node adapter);
//! [`compare`] diffs two reports read back by [`outcomes`]; [`site`]
//! renders the spec and the scenarios as a static site.
#![deny(missing_docs)]

pub mod adapter;
pub mod bundle;
pub mod compare;
pub mod escape;
pub mod exec;
pub mod fixture;
pub mod matching;
pub mod matrix;
pub mod outcomes;
pub mod protocol;
pub mod record;
pub mod report;
pub mod result;
pub mod run;
pub mod sections;
pub mod site;
pub mod wsframe;
