//! The lowest layer: values parsed at the edge (once a handler holds one of these, it is
//! known to be valid), the realms and their rules, the configuration, the clock, crypto
//! helpers, the client's address rules and the normalised path. It imports nothing of the
//! crate's other layers.

/// An enum kept in the database as text: each variant with its SPEC string, `ALL`, `as_str`
/// and `parse`. The SQL mapping (`ToSql`/`FromSql`) is storage's and lives in `db/types.rs`;
/// only Diesel's marker derives stand here, because Rust wants them on the definition.
macro_rules! text_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: [$name; { [$(stringify!($variant)),+].len() }] = [$($name::$variant),+];

            /// The stored and displayed string.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                Self::ALL.into_iter().find(|v| v.as_str() == raw)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod client;
pub mod clock;
pub mod config;
pub mod crypto;
mod email;
pub mod events;
pub mod ids;
mod name;
pub mod organisation;
mod password;
pub mod paths;
pub mod realm;
pub mod second_factor;

pub use email::Email;
pub use name::{DeviceName, Name};
pub use password::{NewPassword, PasswordInput};
