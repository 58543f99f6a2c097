//! Values parsed at the edge: once a handler holds one of these, it is known to be valid.

mod email;
mod name;
mod password;

pub use email::Email;
pub use name::Name;
pub use password::{NewPassword, PasswordInput};
