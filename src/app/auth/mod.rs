//! Sign-in for both realms.

pub mod access;
pub mod guard;
pub mod password;
mod sign_in;

pub use sign_in::{second_step, sign_in, Caller, Opened, SecondStep, SignInOutcome};
