//! One error type for handlers. Its variants are chosen by what the person should see; the
//! cause goes to the log once, never to the page. How each becomes a page (its status, its
//! text, its headers) is the web layer's business: `routes::errors`.

pub type AppResult<T> = Result<T, AppError>;

#[derive(thiserror::Error)]
pub enum AppError {
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A refused signed-in request that is not a GET: 401 with a sign-in link.
    #[error("sign-in required for the {} realm", .realm.as_str())]
    Unauthenticated {
        realm: crate::domain::realm::BrowserRealm,
        message: Option<&'static str>,
    },
    /// A 400 whose page offers a way on (a link and its text).
    #[error("bad request: {message}")]
    BadRequestWithLink {
        message: &'static str,
        href: &'static str,
        text: &'static str,
    },
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body did not arrive within `REALMGATE_BODY_TIMEOUT` (SPEC §6): 408, and the
    /// connection is closed, since the rest of the body may still be on its way.
    #[error("request body timed out")]
    RequestTimeout,
    /// 429 with `Retry-After`.
    #[error("too many requests")]
    TooMany {
        message: String,
        retry_after_secs: u64,
    },
    #[error("service unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl std::fmt::Debug for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Internal(e) => write!(f, "internal error: {e:#}"),
            other => write!(f, "{other}"),
        }
    }
}

impl From<crate::db::DbError> for AppError {
    fn from(e: crate::db::DbError) -> Self {
        use crate::db::DbError;
        match e {
            DbError::Query(diesel::result::Error::NotFound) => AppError::NotFound,
            DbError::Busy(_) | DbError::Locked(_) | DbError::Pool(_) | DbError::Unreachable(_) => {
                log::warn!("{e}");
                AppError::Unavailable
            }
            e => AppError::Internal(anyhow::Error::new(e)),
        }
    }
}

impl From<crate::app::auth::password::HashError> for AppError {
    fn from(e: crate::app::auth::password::HashError) -> Self {
        match e {
            crate::app::auth::password::HashError::Busy => AppError::Unavailable,
            crate::app::auth::password::HashError::Failed(e) => AppError::Internal(e),
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        crate::db::DbError::from(e).into()
    }
}
