//! Flash messages (actix-web-flash-messages) kept in the session under `_flash`.
//!
//! The crate's own `SessionMessageStore` removes its key on every response, which marks the
//! session changed and rewrites the cookie on every page view: two tabs would then race and
//! one could lose a sign-in made in the other (SPEC I4). This store touches the session only
//! when there is something to add, or a message that a page has shown to clear. A flash
//! waiting for the sign-in page is not eaten by a request for a stylesheet or a refused form.

use actix_session::SessionExt as _;
use actix_web::dev::ResponseHead;
use actix_web::{HttpMessage as _, HttpRequest};
use actix_web_flash_messages::storage::{FlashMessageStore, LoadError, StoreError};
use actix_web_flash_messages::{FlashMessage, FlashMessagesFramework, Level};

const KEY: &str = "_flash";
/// Flash messages are the first thing dropped to keep the cookie under 4,000 bytes.
const MAX_FLASH_BYTES: usize = 600;

pub struct SessionFlashStore;

/// Marks a request whose page read (and so showed) the waiting messages.
struct Shown;

impl FlashMessageStore for SessionFlashStore {
    fn load(&self, request: &HttpRequest) -> Result<Vec<FlashMessage>, LoadError> {
        request.extensions_mut().insert(Shown);
        // A garbled value is dropped, never an error: a flash is not worth a failed page.
        Ok(request
            .get_session()
            .get::<Vec<FlashMessage>>(KEY)
            .ok()
            .flatten()
            .unwrap_or_default())
    }

    fn store(
        &self,
        messages: &[FlashMessage],
        request: HttpRequest,
        _response: &mut ResponseHead,
    ) -> Result<(), StoreError> {
        let session = request.get_session();
        let shown = request.extensions().get::<Shown>().is_some();
        let had_any = shown && session.entries().contains_key(KEY);
        let size: usize = messages.iter().map(|m| m.content().len()).sum();
        if messages.is_empty() || size > MAX_FLASH_BYTES {
            if had_any {
                session.remove(KEY);
            }
            return Ok(());
        }
        if let Err(e) = session.insert(KEY, messages) {
            // Never an Err: the framework unwraps it.
            log::warn!("could not store a flash message: {e}");
        }
        Ok(())
    }
}

pub fn framework() -> FlashMessagesFramework {
    FlashMessagesFramework::builder(SessionFlashStore)
        .minimum_level(Level::Debug)
        .build()
}
