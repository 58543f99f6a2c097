//! How domain values are stored: each text enum as its SPEC string. Written once for every
//! backend Diesel speaks, so a second database maps them the same way.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

use crate::domain::events::{IncidentKind, LogoutReason, Severity};
use crate::domain::realm::Realm;

macro_rules! stored_as_text {
    ($($name:ty),+) => {$(
        impl<DB: Backend> ToSql<Text, DB> for $name
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $name
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let raw = String::from_sql(bytes)?;
                <$name>::parse(&raw).ok_or_else(|| {
                    format!(concat!("unknown ", stringify!($name), " {:?}"), raw).into()
                })
            }
        }
    )+};
}

stored_as_text!(Realm, LogoutReason, IncidentKind, Severity);
