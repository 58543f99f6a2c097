//! How domain values are stored: each text enum as its SPEC string. Written once for every
//! backend Diesel speaks, so a second database maps them the same way.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Integer, Text};

use crate::domain::events::{AdminActionKind, IncidentKind, LogoutReason, Severity};
use crate::domain::ids::{AccountId, OrganisationId, SecretHash, SessionId};
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

stored_as_text!(Realm, LogoutReason, IncidentKind, Severity, AdminActionKind);

/// Newtypes stored as their one field.
macro_rules! stored_as_inner {
    ($($name:ident($inner:ty): $sql:ty),+) => {$(
        impl<DB: Backend> ToSql<$sql, DB> for $name
        where
            $inner: ToSql<$sql, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.0.to_sql(out)
            }
        }

        impl<DB: Backend> FromSql<$sql, DB> for $name
        where
            $inner: FromSql<$sql, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                <$inner>::from_sql(bytes).map($name)
            }
        }
    )+};
}

stored_as_inner!(
    AccountId(i32): Integer,
    OrganisationId(i32): Integer,
    SessionId(String): Text,
    SecretHash(String): Text
);
