//! Every integration test in one binary: one link step.

mod helpers;
mod smoke;
