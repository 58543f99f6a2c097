//! The lowest layer: values parsed at the edge (once a handler holds one of these, it is
//! known to be valid), the realms and their rules, the configuration, the clock, crypto
//! helpers, the client's address rules and the normalised path. It imports nothing of the
//! crate's other layers.

pub mod client;
pub mod clock;
pub mod config;
pub mod crypto;
mod email;
mod name;
mod password;
pub mod paths;
pub mod realm;

pub use email::Email;
pub use name::Name;
pub use password::{NewPassword, PasswordInput};
